import type { Database } from 'bun:sqlite';
import type { AppliedMigration, MigrationSession, MigrationTarget } from '../migrate.ts';
import { BUSY_TIMEOUT_MS } from './database.ts';

/** Another server may be migrating the same file: wait this long for its lock. */
const MIGRATION_BUSY_TIMEOUT_MS = 30_000;

/**
 * Migrations on SQLite: the lock is a write transaction (BEGIN IMMEDIATE), and
 * since SQLite DDL is transactional, every pending file and its record commit
 * together or not at all. Runs at start-up, before anything else uses `db`:
 * the work is async only in form, and any other statement issued meanwhile on
 * this connection would land inside the transaction.
 */
export function sqliteMigrationTarget(db: Database): MigrationTarget {
  const session: MigrationSession = {
    async ensureTable() {
      db.run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (' +
          'version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
      );
    },
    async applied() {
      return db
        .query<{ version: bigint; name: string }, []>(
          'SELECT version, name FROM schema_migrations ORDER BY version',
        )
        .all()
        .map((row): AppliedMigration => ({ version: Number(row.version), name: row.name }));
    },
    async apply(migration, nowMs) {
      for (const statement of migration.statements) db.run(statement);
      db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        nowMs,
      );
    },
  };
  return {
    async exclusive(work) {
      db.run(`PRAGMA busy_timeout = ${MIGRATION_BUSY_TIMEOUT_MS}`);
      try {
        db.run('BEGIN IMMEDIATE');
        try {
          const result = await work(session);
          db.run('COMMIT');
          return result;
        } catch (error) {
          if (db.inTransaction) db.run('ROLLBACK');
          throw error;
        }
      } finally {
        db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      }
    },
  };
}
