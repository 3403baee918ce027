import { Database } from 'bun:sqlite';
import { closeSync, openSync } from 'node:fs';
import { PRIVATE_FILE_MODE } from '../data-dir.ts';

/**
 * How long a statement waits for another process's write lock. bun:sqlite is
 * synchronous, so this wait blocks the event loop: keep it short. Within one
 * process there is a single connection and it is never busy; waits only
 * happen when several processes share the file.
 */
export const BUSY_TIMEOUT_MS = 1000;

/**
 * Opens (creating it if needed) the SQLite file. `strict` lets statements bind
 * positional values without prefixes and fail on missing ones;
 * `safeIntegers` returns every INTEGER as a bigint, so 64-bit ids never pass
 * through a lossy JS number.
 */
export function openSqliteDatabase(path: string): Database {
  // Created here, private, before SQLite creates it with 0644 less the umask:
  // SQLite gives the -wal and -shm files the database file's mode.
  if (path !== ':memory:') closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  const db = new Database(path, { create: true, strict: true, safeIntegers: true });
  try {
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL: readers never block the writer. synchronous=NORMAL is durable
    // against process crashes in WAL mode; a power cut may lose the last
    // commits, never corrupt the file.
    switchToWal(db);
    db.run('PRAGMA synchronous = NORMAL');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Switching a new file to WAL needs an exclusive lock and can fail with
 * SQLITE_BUSY without waiting on busy_timeout, when another process is
 * opening the same new file at that moment: retry for up to BUSY_TIMEOUT_MS.
 */
function switchToWal(db: Database): void {
  const until = performance.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.run('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() > until)
        throw error;
      Bun.sleepSync(10);
    }
  }
}
