import { afterEach, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { type Logger, silentLogger } from '../log.ts';
import { openStore } from '../store/open.ts';
import type { UserRow } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { Accounts } from './accounts.ts';
import { CachedUsers } from './cached-users.ts';
import { CHECK_AFTER_MS, PictureChecks } from './picture-checks.ts';
import type {
  ImageProcessor,
  ImageRejection,
  PictureStore,
  StoredPicture,
} from './picture-ports.ts';
import { Pictures } from './pictures.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// The signature and a 1×1 RGB header: enough for the container checks.
const PNG = new Uint8Array([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1,
  0, 0, 0, 1, 8, 2, 0, 0, 0, 1, 2, 3, 4,
]);
const png = (seed: number) => new Uint8Array([...PNG, seed]);
const deadline = () => Deadline.after(10_000);

/** Files in memory, with a hook the test can run before each operation. */
class MemoryFiles implements PictureStore {
  readonly files = new Map<string, StoredPicture>();
  before: (op: 'put' | 'get' | 'exists' | 'delete', key: string) => Promise<void> | void = () => {};

  async put(key: string, bytes: Uint8Array, contentType: string) {
    await this.before('put', key);
    this.files.set(key, { bytes, contentType });
  }
  async get(key: string) {
    await this.before('get', key);
    return this.files.get(key) ?? null;
  }
  async exists(key: string) {
    await this.before('exists', key);
    return this.files.has(key);
  }
  async delete(key: string) {
    await this.before('delete', key);
    this.files.delete(key);
  }
  names(): string[] {
    return [...new Set([...this.files.keys()].map((k) => k.slice(0, 64)))].sort();
  }
}

/** "Re-encodes" by tagging the input with the size, so that equal inputs give equal outputs. */
class FakeProcessor implements ImageProcessor {
  calls = 0;
  answer: ImageRejection | null = null;
  gate: Promise<void> | null = null;
  async process(input: Uint8Array, _type: string, sizes: readonly number[]) {
    this.calls++;
    if (this.gate) await this.gate;
    if (this.answer) return this.answer;
    return sizes.map((size) => new Uint8Array([...input, size]));
  }
}

const OPTIONS = {
  concurrency: 2,
  maxWaiting: 2,
  maxPixels: 40_000_000,
  uploadBurst: 1000,
  uploadsPerMinute: 1,
};

/**
 * Names as uploads made before names were random had them (the SHA-256 of the large
 * file): stores keep such names, which two users may share, and the races below need
 * a name two users share.
 */
const contentName = (large: Uint8Array) =>
  new Bun.CryptoHasher('sha256').update(large).digest('hex');

async function setup(
  overrides: Partial<typeof OPTIONS> = {},
  log: Logger = silentLogger,
  /** null: the service's own (random) names. */
  naming: ((large: Uint8Array) => string) | null = contentName,
) {
  const options = { ...OPTIONS, ...overrides };
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-pictures-'));
  const store = await openStore(
    {
      mysqlUrl: '',
      dataDir: dir,
      mysql: {
        poolSize: 1,
        queueLimit: 1,
        queueTimeoutMs: 1,
        queryTimeoutMs: 1,
        connectTimeoutMs: 100,
      },
    },
    silentLogger,
  );
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const users = new CachedUsers(
    store,
    null,
    new Semaphore(4, 4),
    { ttlMs: 1000, negativeTtlMs: 1000, tombstoneMs: 1000 },
    silentLogger,
  );
  // Sessions are the Accounts tests' business: here a token is a user id.
  const authenticate = async (auth: { token: string }) => {
    const user = await store.findById(auth.token);
    if (user === null) throw new RpcError(Status.UNAUTHENTICATED, 'not logged in');
    return { user, claims: {} };
  };
  const accounts = {
    authenticate,
    async audited(
      auth: { token: string },
      _caller: unknown,
      _action: string,
      _deadline: unknown,
      work: (user: UserRow, claims: unknown) => Promise<unknown>,
    ) {
      const { user, claims } = await authenticate(auth);
      return work(user, claims);
    },
  } as unknown as Accounts;
  const files = new MemoryFiles();
  const processor = new FakeProcessor();
  // The rate's mechanism is the RateLimits tests' business: here, a count per user.
  const uploads = new Map<string, number>();
  const limits = {
    async admitUpload(userId: string, _perMinute: number, burst: number) {
      const n = (uploads.get(userId) ?? 0) + 1;
      uploads.set(userId, n);
      if (n > burst) throw new RpcError(Status.RESOURCE_EXHAUSTED, 'too many picture uploads');
    },
  };
  const pictures = new Pictures(
    { accounts, store, users, processor, files, limits, log, newName: naming ?? undefined },
    options,
  );
  let next = 1;
  async function user(): Promise<UserRow> {
    const row: UserRow = {
      id: String(next),
      username: `user${next++}`,
      nickname: 'n',
      passwordHash: '$argon2id$v=19$m=1024,t=1,p=1$x$y',
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: 1,
      updatedAtMs: 1,
      totpSecret: '',
      version: 0,
    };
    await store.create(row);
    return row;
  }
  const upload = async (who: UserRow, image: Uint8Array) =>
    pictures.set({ token: who.id }, image, deadline());
  return { pictures, store, files, processor, user, upload };
}

async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('unit: Pictures (SQLite store, files in memory)', () => {
  it('should store both sizes under one name and name it on the user', async () => {
    const { files, user, upload, pictures } = await setup();
    const alice = await user();
    const updated = await upload(alice, png(1));
    const large = new Uint8Array([...png(1), 256]);
    const name = contentName(large);
    expect(updated.picture).toBe(name);
    expect([...files.files.keys()].sort()).toEqual([`${name}-64.webp`, `${name}.webp`]);
    expect((await pictures.get(name)).bytes).toEqual(large);
    expect((await pictures.get(`${name}-64`)).contentType).toBe('image/webp');
  });

  // Regression (an attack audit): names were the SHA-256 of the image, so anyone could
  // learn whether another account showed a given image (upload it, remove it, fetch).
  it('should give every upload a random name, even of an image another user shows', async () => {
    const { files, user, upload, pictures } = await setup({}, silentLogger, null);
    const [alice, bob] = [await user(), await user()];
    const first = (await upload(alice, png(1))).picture;
    const other = (await upload(bob, png(1))).picture;
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(other).toMatch(/^[0-9a-f]{64}$/);
    expect(other).not.toBe(first);
    expect(first).not.toBe(contentName(new Uint8Array([...png(1), 256])));
    // The same image again: a new name, the old files removed.
    const again = (await upload(alice, png(1))).picture;
    await pictures.settled();
    expect(again).not.toBe(first);
    expect(files.names()).toEqual([again, other].sort());
  });

  it('should answer NOT_FOUND for names that are unknown or not names at all', async () => {
    const { pictures, user, upload } = await setup();
    const name = (await upload(await user(), png(1))).picture;
    for (const bad of [
      'f'.repeat(64),
      `${name}-32`,
      `${name}.webp`,
      name.toUpperCase(),
      `../${name}`,
      '../../etc/passwd',
      '',
    ]) {
      expect((await rejection(pictures.get(bad))).code).toBe(Status.NOT_FOUND);
    }
  });

  it('should refuse an empty upload and anything that is not JPEG, PNG, WebP or GIF, before processing', async () => {
    const { user, upload, processor } = await setup();
    const alice = await user();
    const empty = await rejection(upload(alice, new Uint8Array()));
    expect([empty.code, empty.field]).toEqual([Status.INVALID_ARGUMENT, 'picture']);
    const text = await rejection(upload(alice, new TextEncoder().encode('not an image at all')));
    expect(text.code).toBe(Status.UNSUPPORTED_MEDIA);
    expect(text.message).toContain('JPEG, PNG, WebP or GIF');
    expect(processor.calls).toBe(0);
  });

  it("should turn the processor's refusals into clear statuses", async () => {
    const { user, upload, processor, files } = await setup();
    const alice = await user();
    processor.answer = { rejected: 'too_many_pixels', width: 60000, height: 60000, maxPixels: 4e7 };
    const big = await rejection(upload(alice, png(1)));
    expect([big.code, big.field]).toEqual([Status.INVALID_ARGUMENT, 'picture']);
    expect(big.message).toBe(
      'the picture is 60000×60000 pixels; at most 40 megapixels are accepted',
    );
    processor.answer = { rejected: 'unreadable' };
    expect((await rejection(upload(alice, png(1)))).message).toContain('PNG file is damaged');
    processor.answer = { rejected: 'too_slow' };
    expect((await rejection(upload(alice, png(1)))).code).toBe(Status.DEADLINE_EXCEEDED);
    processor.answer = { rejected: 'unavailable' };
    expect((await rejection(upload(alice, png(1)))).code).toBe(Status.UNAVAILABLE);
    expect(files.files.size).toBe(0);
  });

  it('should refuse, before any decoding, what the container says would cost over the budget', async () => {
    const { user, upload, processor } = await setup();
    const alice = await user();
    // A GIF whose one 16×16 frame sits on a 6324×6324 screen: the canvas is what a decoder fills.
    const gif = new Uint8Array([
      ...new TextEncoder().encode('GIF89a'),
      ...[0xb4, 0x18, 0xb4, 0x18, 0, 0, 0],
      ...[0x2c, 0, 0, 0, 0, 16, 0, 16, 0, 0, 2, 1, 0, 0, 0x3b],
    ]);
    const refused = await rejection(upload(alice, gif));
    expect([refused.code, refused.field]).toEqual([Status.INVALID_ARGUMENT, 'picture']);
    expect(refused.message).toBe(
      'the picture is 6324×6324 pixels in a form which takes 306 MiB to decode; at most 48 MiB are accepted: send a smaller image',
    );
    const truncated = await rejection(upload(alice, PNG.subarray(0, 20)));
    expect(truncated.message).toContain('PNG file is damaged');
    expect(processor.calls).toBe(0);
  });

  it("should refuse a user's uploads beyond their upload rate, before any decoding", async () => {
    const { user, upload, processor } = await setup({ uploadBurst: 2 });
    const [alice, bob] = [await user(), await user()];
    await upload(alice, png(1));
    await upload(alice, png(2));
    expect((await rejection(upload(alice, png(3)))).code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(processor.calls).toBe(2);
    await upload(bob, png(3)); // the rate is per user
    expect(processor.calls).toBe(3);
  });

  it('should refuse at once when every processing slot and queue place is taken', async () => {
    const { user, upload, processor } = await setup({ concurrency: 1, maxWaiting: 1 });
    const alice = await user();
    let open = () => {};
    processor.gate = new Promise((resolve) => {
      open = resolve;
    });
    const running = [upload(alice, png(1)), upload(alice, png(2))];
    const refused = await rejection(upload(alice, png(3)));
    expect(refused.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(refused.retryAfterS).toBe(1);
    open();
    await Promise.all(running);
  });

  it('should refuse a session that is not valid before looking at the image', async () => {
    const { upload, processor } = await setup();
    const ghost = { id: '999' } as UserRow;
    expect((await rejection(upload(ghost, png(1)))).code).toBe(Status.UNAUTHENTICATED);
    expect(processor.calls).toBe(0);
  });

  it('should remove a replaced picture, but not one that another user still has', async () => {
    const { user, upload, files, pictures } = await setup();
    const [alice, bob] = [await user(), await user()];
    const first = (await upload(alice, png(1))).picture;
    const shared = (await upload(bob, png(1))).picture;
    expect(shared).toBe(first);
    const second = (await upload(alice, png(2))).picture;
    await pictures.settled();
    expect(files.names()).toEqual([first, second].sort()); // bob still shows the first
    const third = (await upload(bob, png(3))).picture;
    await pictures.settled();
    expect(files.names()).toEqual([second, third].sort());
    // Uploading the same picture again keeps it.
    await upload(bob, png(3));
    await pictures.settled();
    expect(files.names()).toEqual([second, third].sort());
  });

  it('race: someone takes a name into use after its removal deleted the files: removal puts them back', async () => {
    const { user, upload, files, pictures } = await setup();
    const [alice, bob] = [await user(), await user()];
    const old = (await upload(alice, png(1))).picture;
    let bobUpload: Promise<UserRow> | null = null;
    files.before = async (op, key) => {
      // Alice's old picture is being removed; when its last file is gone,
      // Bob uploads the same image and completes before the re-check.
      if (op === 'delete' && key === `${old}.webp` && bobUpload === null) {
        bobUpload = upload(bob, png(1));
        files.before = () => {};
        await bobUpload;
      }
    };
    await upload(alice, png(2));
    await pictures.settled();
    expect(((await bobUpload) as unknown as UserRow).picture).toBe(old);
    expect(files.files.has(`${old}.webp`)).toBe(true);
    expect(files.files.has(`${old}-64.webp`)).toBe(true);
  });

  it('race: a removal deletes files after they were put and re-checks before the update: the upload puts them back', async () => {
    const { user, upload, files, pictures, store } = await setup();
    const [alice, bob] = [await user(), await user()];
    const old = (await upload(alice, png(1))).picture;
    // Hold Bob's update until Alice's removal has finished.
    let removalDone = () => {};
    const removed = new Promise<void>((resolve) => {
      removalDone = resolve;
    });
    const update = store.updatePicture.bind(store);
    store.updatePicture = async (id, picture, now) => {
      if (id === bob.id) await removed;
      return update(id, picture, now);
    };
    let bobUpload: Promise<UserRow> | null = null;
    let bobPut = () => {};
    const bobHasPut = new Promise<void>((resolve) => {
      bobPut = resolve;
    });
    files.before = async (op, key) => {
      if (op === 'delete' && bobUpload === null) {
        // Alice's removal has read the files; Bob now puts the same ones.
        bobUpload = upload(bob, png(1));
        await bobHasPut;
      }
      if (op === 'put' && key === `${old}.webp` && bobUpload !== null) queueMicrotask(bobPut);
    };
    await upload(alice, png(2));
    await pictures.settled(); // deleted, re-checked: unused, nothing put back
    expect(files.files.has(`${old}.webp`)).toBe(false);
    removalDone();
    expect((await (bobUpload as unknown as Promise<UserRow>)).picture).toBe(old);
    expect(files.files.has(`${old}.webp`)).toBe(true);
    expect(files.files.has(`${old}-64.webp`)).toBe(true);
  });

  it('should not delete files that appeared only after the removal looked for them', async () => {
    const { user, upload, files, pictures } = await setup();
    const alice = await user();
    const old = (await upload(alice, png(1))).picture;
    // Alice's removal finds nothing (another removal was quicker); the files
    // it then sees again are someone's fresh put(), which it must leave alone.
    const read = files.get.bind(files);
    files.get = async (key) => (key.startsWith(old) ? null : read(key));
    await upload(alice, png(2));
    await pictures.settled();
    expect(files.files.has(`${old}.webp`)).toBe(true);
  });

  it('should answer a storage outage with its status and remove what was stored', async () => {
    const { user, upload, files, pictures } = await setup();
    const alice = await user();
    let puts = 0;
    files.before = (op) => {
      if (op === 'put' && ++puts === 2) throw new RpcError(Status.UNAVAILABLE, 'disk gone');
    };
    expect((await rejection(upload(alice, png(1)))).code).toBe(Status.UNAVAILABLE);
    files.before = () => {};
    await pictures.settled();
    expect(files.files.size).toBe(0);
  });

  it("should list each upload's names to check later, and remove what a stopped process left unnamed", async () => {
    const { user, upload, files, store, pictures } = await setup();
    const alice = await user();
    const first = (await upload(alice, png(1))).picture;
    const second = (await upload(alice, png(2))).picture;
    await pictures.settled();
    const later = Date.now() + CHECK_AFTER_MS + 1000;
    const due = (await store.duePictureChecks(later, 100)).map((c) => c.name);
    expect(due.sort()).toEqual([first, second].sort());
    expect(await store.duePictureChecks(Date.now(), 100)).toEqual([]);
    // A process that stored a picture and stopped before its update: files no one names.
    const orphan = 'f'.repeat(64);
    await store.addPictureChecks([orphan], Date.now() + CHECK_AFTER_MS);
    await files.put(`${orphan}.webp`, png(9), 'image/webp');
    await files.put(`${orphan}-64.webp`, png(9), 'image/webp');
    expect(files.names()).toEqual([orphan, second].sort());
    const checks = new PictureChecks(
      store,
      (name) => pictures.check(name),
      silentLogger,
      () => later,
    );
    expect(await checks.run()).toBe(3);
    // The orphan's files are gone, the picture in use stays, and nothing is left to check.
    expect(files.names()).toEqual([second]);
    expect(await store.duePictureChecks(later, 100)).toEqual([]);
  });

  it('should log a picture in use whose files a cut-short removal lost', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const { user, upload, files, store, pictures } = await setup({}, log);
    const alice = await user();
    const name = (await upload(alice, png(1))).picture;
    files.files.delete(`${name}-64.webp`);
    const checks = new PictureChecks(
      store,
      (n) => pictures.check(n),
      silentLogger,
      () => Date.now() + CHECK_AFTER_MS + 1000,
    );
    await checks.run();
    expect(lines.map((l) => JSON.parse(l).picture)).toEqual([name]);
  });

  it('should list a picture taken away to check later too', async () => {
    const { user, upload, store, pictures } = await setup();
    const alice = await user();
    const first = (await upload(alice, png(1))).picture;
    await pictures.remove({ token: alice.id }, deadline(), { clientIp: '', requestId: 'r' });
    const due = await store.duePictureChecks(Date.now() + CHECK_AFTER_MS + 1000, 100);
    expect(due.map((c) => c.name)).toEqual([first]);
  });

  it('race: a removal took only the small size while the sizes were written: the upload puts it back', async () => {
    const { user, upload, files } = await setup();
    const alice = await user();
    let taken = false;
    files.before = (op, key) => {
      // After the update, as the upload checks its files: the small one is gone.
      if (op === 'exists' && !taken) {
        taken = true;
        files.files.delete(`${key.slice(0, 64)}-64.webp`);
      }
    };
    const name = (await upload(alice, png(1))).picture;
    expect([...files.files.keys()].sort()).toEqual([`${name}-64.webp`, `${name}.webp`]);
  });

  it('should check every due name in one run, batch after batch, and keep those that failed', async () => {
    const { store, files, pictures } = await setup();
    const names = Array.from({ length: 230 }, (_, i) => i.toString(16).padStart(64, '0'));
    await store.addPictureChecks(names, Date.now());
    for (const name of names) await files.put(`${name}.webp`, png(1), 'image/webp');
    const stuck = names[7] as string;
    const later = () => Date.now() + 1000;
    const checks = new PictureChecks(
      store,
      (name) => (name === stuck ? Promise.reject(new Error('disk away')) : pictures.check(name)),
      silentLogger,
      later,
    );
    expect(await checks.run()).toBe(229);
    expect(files.names()).toEqual([stuck]);
    expect((await store.duePictureChecks(later(), 1000)).map((c) => c.name)).toEqual([stuck]);
  });

  it('should leave no files behind when the user vanished before the update', async () => {
    const { user, upload, files, pictures, store } = await setup();
    const alice = await user();
    const update = store.updatePicture.bind(store);
    store.updatePicture = async (id, picture, now) => {
      await store.delete(id);
      return update(id, picture, now);
    };
    expect((await rejection(upload(alice, png(1)))).code).toBe(Status.UNAUTHENTICATED);
    await pictures.settled();
    expect(files.files.size).toBe(0);
  });
});
