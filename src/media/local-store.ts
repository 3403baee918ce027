/**
 * The PictureStore port on a local directory (the default: DATA_DIR/pictures).
 * Files sit in 256 subdirectories by the first two characters of the key,
 * so that millions of pictures do not share one directory.
 *
 * - Keys must match KEY (lower-case letters, digits, '-', one extension): no
 *   '/', no '..', nothing that could name a path outside the directory.
 * - put() writes a temporary file in the same directory, flushes it to disk
 *   and renames it over the key: readers see the old file or the new one,
 *   never a part, and a crash leaves at most a stray temporary file, which
 *   sweepTemporaries() removes once it is old (the TCP server, at start).
 * - a directory made once is not made again at every put, but one found gone
 *   (removed under the running server) is made again, once per put: it used
 *   to fail every later upload to it until a restart (a reliability audit).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PictureStore, StoredPicture } from '../core/picture-ports.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/data-dir.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { contentTypeOf, isStorageKey } from './keys.ts';

/** put()'s temporary files, in the key's directory: `.tmp-` and 16 hex digits. */
const TEMPORARY = /^\.tmp-[0-9a-f]{16}$/;
/** The directories keys go to: the first two characters of a key. */
const KEY_DIRECTORY = /^[0-9a-z-]{2}$/;

export class LocalPictureStore implements PictureStore {
  private readonly made = new Set<string>();

  constructor(private readonly dir: string) {}

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    const path = this.pathOf(key, contentType);
    const folder = join(path, '..');
    try {
      await this.write(folder, path, bytes);
    } catch (err) {
      if (!isMissing(err)) throw outage('write', err);
      // The directory went away under us: make it again, and try once more.
      this.made.delete(folder);
      try {
        await this.write(folder, path, bytes);
      } catch (again) {
        throw outage('write', again);
      }
    }
  }

  private async write(folder: string, path: string, bytes: Uint8Array): Promise<void> {
    const temporary = join(folder, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      if (!this.made.has(folder)) {
        await mkdir(folder, { recursive: true, mode: PRIVATE_DIR_MODE });
        this.made.add(folder);
      }
      const file = await open(temporary, 'wx', PRIVATE_FILE_MODE);
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, path);
    } catch (err) {
      await unlink(temporary).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes the temporary files that a process stopped in the middle of a put
   * (kill -9, out of memory, power lost) left behind: those last changed more
   * than `olderThanMs` ago, so a put under way, here or in another process
   * sharing the directory, is never touched. Reads one directory entry at a
   * time (millions of pictures are never listed at once) and stops early when
   * `stopped()` says so. How many it removed; a directory it cannot read ends
   * the sweep with its error.
   */
  async sweepTemporaries(
    olderThanMs: number,
    nowMs = Date.now(),
    stopped: () => boolean = () => false,
  ): Promise<number> {
    let removed = 0;
    for (const folder of await entries(
      this.dir,
      (e) => e.isDirectory() && KEY_DIRECTORY.test(e.name),
    )) {
      if (stopped()) break;
      for (const path of await entries(folder, (e) => e.isFile() && TEMPORARY.test(e.name))) {
        if (stopped()) break;
        try {
          if ((await stat(path)).mtimeMs > nowMs - olderThanMs) continue;
          await unlink(path);
          removed++;
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
    }
    return removed;
  }

  async get(key: string): Promise<StoredPicture | null> {
    if (!isStorageKey(key)) return null;
    try {
      const bytes = new Uint8Array(await readFile(this.pathOf(key)));
      return { bytes, contentType: contentTypeOf(key) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw outage('read', err);
    }
  }

  async exists(key: string): Promise<boolean> {
    if (!isStorageKey(key)) return false;
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (err) {
      if (isMissing(err)) return false;
      throw outage('read', err);
    }
  }

  async delete(key: string): Promise<void> {
    if (!isStorageKey(key)) return;
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      if (!isMissing(err)) throw outage('delete', err);
    }
  }

  /** The file of a key; a key outside the alphabet is a bug upstream. */
  private pathOf(key: string, contentType?: string): string {
    if (!isStorageKey(key)) throw new RangeError(`not a picture key: ${JSON.stringify(key)}`);
    if (contentType !== undefined && contentType !== contentTypeOf(key)) {
      throw new RangeError(`${key} cannot hold ${contentType}`);
    }
    return join(this.dir, key.slice(0, 2), key);
  }
}

/** The entries of a directory that pass `keep`, as paths under it ([] when it is gone). */
async function entries(
  dir: string,
  keep: (entry: { name: string; isFile(): boolean; isDirectory(): boolean }) => boolean,
): Promise<string[]> {
  const kept: string[] = [];
  try {
    for await (const entry of await opendir(dir)) if (keep(entry)) kept.push(join(dir, entry.name));
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  return kept;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function outage(what: string, err: unknown): RpcError {
  return new RpcError(Status.UNAVAILABLE, MESSAGES.PICTURE_STORAGE_UNAVAILABLE, {
    retryAfterS: 5,
    cause: { what, err },
  });
}
