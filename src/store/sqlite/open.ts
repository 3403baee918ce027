import { openSqliteDatabase } from './database.ts';
import { SqliteStore } from './store.ts';

/** A SQLite store on the file at `path` (created when missing), not yet migrated. */
export function createSqliteStore(path: string): SqliteStore {
  return new SqliteStore(openSqliteDatabase(path));
}
