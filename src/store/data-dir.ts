/**
 * DATA_DIR holds what must stay private to the server's own user: the SQLite
 * file with the password hashes (and its -wal and -shm, where the latest
 * rows sit), the generated session secret, and the local pictures.
 * Invariants, whatever the umask:
 * - after secureDataDir() the directory and every directory under it are
 *   0700 and every regular file under it is 0600, or the server refuses to
 *   start (a mode it cannot change: the file belongs to another user);
 * - what this process creates there later is created with those modes
 *   (SQLite gives -wal and -shm the mode of the database file, which is
 *   created 0600 before SQLite opens it).
 * Looser modes found at start are tightened and named in one warning: the
 * files were readable until then, so the operator must know they may have
 * been copied. DATA_DIR itself may be a symbolic link (to a volume, say);
 * links inside it are left as they are and not followed.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Paths named in the warning; the count covers the rest. */
const MAX_NAMED = 20;

/** Group and other bits. */
const SHARED_BITS = 0o077;

/** The code of the error secureDataDir throws when a mode cannot be tightened: a start-up failure. */
export const DATA_DIR_MODE = 'DATA_DIR_MODE';

/** Creates `dir` (0700) when missing, then tightens every mode under it; throws when it cannot. */
export function secureDataDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tightened: { path: string; was: string }[] = [];
  const visit = (path: string) => {
    const stat = path === dir ? statSync(path) : lstatSync(path);
    const isDir = stat.isDirectory();
    if (!isDir && !stat.isFile()) return;
    const mode = stat.mode & 0o777;
    if ((mode & SHARED_BITS) !== 0) {
      try {
        chmodSync(path, isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE);
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        const want = octal(isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE);
        const fix =
          code === 'EROFS'
            ? `make it ${want} before the file system is made read-only, or set DATA_DIR to a writable directory`
            : `make it ${want}, or run the server as its owner`;
        throw Object.assign(
          new Error(
            `DATA_DIR: ${path} is readable by other users (mode ${octal(mode)}) and its mode cannot be changed (${code || (error as Error).message}): ${fix}`,
          ),
          { code: DATA_DIR_MODE },
        );
      }
      tightened.push({ path, was: octal(mode) });
    }
    if (isDir) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  if (tightened.length > 0) {
    log.warn(
      { count: tightened.length, tightened: tightened.slice(0, MAX_NAMED) },
      'DATA_DIR: modes that let other users read it were tightened (directories 0700, files 0600); what they held (password hashes, the session secret) may have been copied before',
    );
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
