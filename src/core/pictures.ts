/**
 * Profile pictures: an upload becomes square WebP files under a random name
 * of its own (newName), stored through the PictureStore port, and the user's
 * `picture` column names them. Invariants:
 * - an upload is admitted by the user's upload rate, then the bytes are
 *   checked (magic bytes; the container's sizes, scans and frames against
 *   the decode budget; then the processor's own checks) before any decoder
 *   runs or anything is stored; at most `concurrency` images are processed
 *   at once and at most `maxWaiting` wait, beyond that RESOURCE_EXHAUSTED;
 * - the files are stored before the user row names them;
 * - a picture no user names any more is removed (release()), in the
 *   background, and never while someone uses it. Names were content hashes
 *   before they were random (so a user could learn whether another account
 *   showed the very same image: upload it, remove it, fetch the name), and
 *   names stored then may be shared by two users, one of whom could take a
 *   name into use at the moment the other's old picture with that name was
 *   being removed. Both sides still repair that race: release() deletes
 *   only files it read first and puts them back if the name is in use after
 *   the delete; set() checks after its update that the file is still there
 *   and stores it again if not. Whatever the interleaving, a name in use
 *   ends up with its files (see pictures.test.ts for the interleavings);
 * - before it stores anything, an upload lists its name and the name it
 *   replaces to be checked again later (picture-checks.ts), so that files a
 *   crash leaves unnamed (stored before the update that would name them, or
 *   replaced before release() ran) are removed by whichever TCP server runs
 *   the checks.
 */
import type { Deadline } from '../lib/deadline.ts';
import { type Refusal, Semaphore } from '../lib/semaphore.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES, pixelsInWords } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { AccountCaller } from './account-audit.ts';
import type { Accounts, SessionAuth } from './accounts.ts';
import type { CachedUsers } from './cached-users.ts';
import { type DecodeBudget, inspectImage, overBudget, sniffImageType } from './image-type.ts';
import { CHECK_AFTER_MS } from './picture-checks.ts';
import type { ImageProcessor, PictureStore, StoredPicture } from './picture-ports.ts';
import type { RateLimits } from './rate-limits.ts';

/** Every picture in these sizes, largest first, all under one name. */
const PICTURE_VARIANTS = [
  { suffix: '', size: 256 },
  { suffix: '-64', size: 64 },
] as const;

const CONTENT_TYPE = 'image/webp';
const NAME = /^[0-9a-f]{64}$/;
/** What GetPicture accepts: a name, optionally with a variant's suffix. */
const SERVED = /^[0-9a-f]{64}(?:-64)?$/;
const SIZES = PICTURE_VARIANTS.map((v) => v.size);

/**
 * What one decode may cost beyond the pixel limit. The decoder keeps at
 * most `maxBufferedBytes` for the whole image (JPEG coefficients, a GIF or
 * animated WebP canvas, an interlaced PNG); a JPEG walks every block once
 * per scan (libjpeg's default progression has 10 scans); only the first
 * frame of an animation is decoded, but every frame is indexed when the
 * file is opened. See docs/DESIGN.md (Data) for the arithmetic.
 */
const DECODE_LIMITS: Omit<DecodeBudget, 'maxPixels'> = {
  maxBufferedBytes: 48 * 1024 * 1024,
  maxScans: 32,
  maxFrames: 1000,
  maxFramePixels: 1_000_000_000,
};

export interface PicturesOptions {
  /** Images processed at once (each in a process of its own). */
  concurrency: number;
  /** Images waiting for their turn; more are refused at once. */
  maxWaiting: number;
  /** Largest width × height accepted. */
  maxPixels: number;
  /** Uploads per user: a burst, then this many per minute. */
  uploadBurst: number;
  uploadsPerMinute: number;
}

export interface PicturesDeps {
  accounts: Accounts;
  store: UserStore;
  users: CachedUsers;
  processor: ImageProcessor;
  files: PictureStore;
  limits: Pick<RateLimits, 'admitUpload'>;
  log: Logger;
  now?: () => number;
  /** The name of an upload's files, given the large one; default: 256 random bits, hex. */
  newName?: (large: Uint8Array) => string;
}

/** A name nobody can derive from the image: see the top of this file. */
function randomName(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
}

export class Pictures {
  private readonly slots: Semaphore;
  private readonly releases = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly newName: (large: Uint8Array) => string;
  private readonly budget: DecodeBudget;

  constructor(
    private readonly deps: PicturesDeps,
    private readonly options: PicturesOptions,
  ) {
    this.slots = new Semaphore(options.concurrency, options.maxWaiting);
    this.now = deps.now ?? Date.now;
    this.newName = deps.newName ?? randomName;
    this.budget = { ...DECODE_LIMITS, maxPixels: options.maxPixels };
  }

  /** The most pixels an image may announce (the pages state it). */
  get maxPixels(): number {
    return this.options.maxPixels;
  }

  /** Replaces the session user's picture with `image`; returns the updated user. */
  async set(auth: SessionAuth, image: Uint8Array, deadline: Deadline): Promise<UserRow> {
    const { accounts, store, users, files } = this.deps;
    const { user } = await accounts.authenticate(auth, deadline);
    const { uploadsPerMinute, uploadBurst } = this.options;
    await this.deps.limits.admitUpload(user.id, uploadsPerMinute, uploadBurst);
    const encoded = await this.encode(image, deadline);
    const name = this.newName(encoded[0] as Uint8Array);
    // Checked again later whatever happens to this process (see the top of this file).
    // Sorted: two uploads listing the same two names lock their rows in one order.
    const names =
      user.picture !== '' && user.picture !== name ? [name, user.picture].sort() : [name];
    await store.addPictureChecks(names, this.now() + CHECK_AFTER_MS);
    let updated: Awaited<ReturnType<UserStore['updatePicture']>>;
    try {
      await Promise.all(encoded.map((bytes, i) => files.put(keyOf(name, i), bytes, CONTENT_TYPE)));
      updated = await users.writing(user.username, () =>
        store.updatePicture(user.id, name, this.now()),
      );
    } catch (err) {
      this.release(name); // a variant may have been stored; unless someone uses it, it goes
      throw err;
    }
    if (updated === null) {
      this.release(name); // the user was deleted meanwhile
      throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
    }
    await this.ensureStored(name, encoded);
    if (updated.previous !== '' && updated.previous !== name) this.release(updated.previous);
    return updated.user;
  }

  /**
   * Takes the session user's picture away; its files go unless another user
   * has the same one. Returns the updated user.
   */
  remove(auth: SessionAuth, deadline: Deadline, caller: AccountCaller): Promise<UserRow> {
    const { accounts, store, users } = this.deps;
    return accounts.audited(auth, caller, 'remove-picture', deadline, async (user) => {
      // Checked again later, should this process stop before removing it.
      if (user.picture !== '')
        await store.addPictureChecks([user.picture], this.now() + CHECK_AFTER_MS);
      const updated = await users.writing(user.username, () =>
        store.updatePicture(user.id, '', this.now()),
      );
      if (updated === null) throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
      if (updated.previous !== '') this.release(updated.previous);
      return updated.user;
    });
  }

  /** A stored picture by the name GetPicture was asked for (`<hash>` or `<hash>-64`). */
  async get(name: string): Promise<StoredPicture> {
    const found = SERVED.test(name) ? await this.deps.files.get(`${name}.webp`) : null;
    if (found === null) throw new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_PICTURE);
    return found;
  }

  /**
   * Removes a picture's files unless some user names it, now (picture-checks.ts).
   * Safe at any time: see release(). A name in use whose files are not all
   * there is logged as an error: a removal that put back the files of a name
   * taken into use meanwhile was cut short (kill -9) between its delete and
   * its put-back, and its user must upload the picture again.
   */
  async check(name: string): Promise<void> {
    if (!NAME.test(name)) return;
    const { store, files, log } = this.deps;
    if (!(await store.isPictureUsed(name))) return this.removeIfUnused(name);
    const keys = PICTURE_VARIANTS.map((_, i) => keyOf(name, i));
    const missing = (await Promise.all(keys.map((key) => files.exists(key)))).some((ok) => !ok);
    if (missing)
      log.error(
        { picture: name },
        'a picture in use lost files (a removal was cut short): its user must upload it again',
      );
  }

  /**
   * Removes a picture's files unless some user names it; in the background.
   * For callers that stop naming a picture (a replaced picture, a deleted user).
   */
  release(name: string): void {
    if (!NAME.test(name)) return;
    const work = this.removeIfUnused(name)
      .catch((err) =>
        this.deps.log.warn({ err, picture: name }, 'removing an unused picture failed'),
      )
      .finally(() => this.releases.delete(work));
    this.releases.add(work);
  }

  /** Resolves when every release() begun so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.releases.size > 0) await Promise.all(this.releases);
  }

  /** Stops the image processor (at shutdown, after the last call). */
  close(): void {
    this.deps.processor.close?.();
  }

  private async encode(image: Uint8Array, deadline: Deadline): Promise<Uint8Array[]> {
    if (image.length === 0) {
      // A file chosen may be empty (0 bytes): "choose one" alone read as if none was.
      throw new RpcError(Status.INVALID_ARGUMENT, 'the file is empty: choose a picture to upload', {
        field: 'picture',
      });
    }
    const type = sniffImageType(image);
    if (type === null) {
      throw new RpcError(
        Status.UNSUPPORTED_MEDIA,
        'the picture must be a JPEG, PNG, WebP or GIF image; this file is none of them',
      );
    }
    const shape = inspectImage(image, type);
    if (shape === null) throw unreadable(type);
    const refusal = overBudget(shape, this.budget);
    if (refusal !== null)
      throw new RpcError(Status.INVALID_ARGUMENT, refusal, { field: 'picture' });
    const result = await this.slots.run(
      deadline,
      () => this.deps.processor.process(image, type, SIZES, deadline),
      refuse,
    );
    if (Array.isArray(result)) return result;
    switch (result.rejected) {
      case 'too_many_pixels':
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `the picture is ${result.width}×${result.height} pixels; at most ` +
            `${pixelsInWords(result.maxPixels)} are accepted`,
          { field: 'picture' },
        );
      case 'unreadable':
        throw unreadable(type);
      case 'too_slow':
        throw new RpcError(Status.DEADLINE_EXCEEDED, 'the picture took too long to process');
      case 'unavailable':
        throw new RpcError(
          Status.UNAVAILABLE,
          'pictures cannot be processed at the moment, try again later',
          { retryAfterS: 5 },
        );
    }
  }

  /**
   * After the update: a concurrent removal of the same name may have deleted
   * some of the files (every size is checked: a removal that ran while the
   * sizes were being written could take the small one and miss the large).
   */
  private async ensureStored(name: string, encoded: Uint8Array[]): Promise<void> {
    const { files, log } = this.deps;
    try {
      const present = await Promise.all(encoded.map((_, i) => files.exists(keyOf(name, i))));
      if (present.every(Boolean)) return;
      await Promise.all(
        encoded.map((bytes, i) =>
          present[i] ? undefined : files.put(keyOf(name, i), bytes, CONTENT_TYPE),
        ),
      );
      log.info({ picture: name }, 'picture was removed while being taken into use: stored again');
    } catch (err) {
      // The user row already names the picture; failing the call would not undo that.
      log.error({ err, picture: name }, 'could not check that a new picture is stored');
    }
  }

  private async removeIfUnused(name: string): Promise<void> {
    const { store, files, log } = this.deps;
    if (await store.isPictureUsed(name)) return;
    // Smallest first, so that the large file, the one set() checks for, goes last.
    const keys = PICTURE_VARIANTS.map((_, i) => keyOf(name, i)).reverse();
    const saved = new Map<string, StoredPicture>();
    for (const key of keys) {
      const file = await files.get(key);
      if (file !== null) saved.set(key, file);
    }
    // Only what was read: a file that appears later is someone's fresh put().
    for (const key of saved.keys()) await files.delete(key);
    if (!(await store.isPictureUsed(name))) return;
    for (const [key, file] of saved) await files.put(key, file.bytes, file.contentType);
    log.info({ picture: name }, 'picture was taken into use while being removed: put back');
  }
}

function keyOf(name: string, variant: number): string {
  return `${name}${PICTURE_VARIANTS[variant]?.suffix ?? ''}.webp`;
}

function unreadable(type: string): RpcError {
  return new RpcError(
    Status.INVALID_ARGUMENT,
    `the picture could not be read: the ${type.toUpperCase()} file is damaged or incomplete`,
    { field: 'picture' },
  );
}

function refuse(why: Refusal): never {
  if (why === 'cancelled') throw RpcError.cancelled();
  if (why === 'busy') {
    throw new RpcError(Status.RESOURCE_EXHAUSTED, 'too many pictures are being processed', {
      retryAfterS: 1,
    });
  }
  throw new RpcError(Status.DEADLINE_EXCEEDED, 'the server is too busy to process the picture');
}
