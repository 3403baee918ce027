import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { AppliedMigration, MigrationSession, MigrationTarget } from '../migrate.ts';
import { classifyMysqlError } from './errors.ts';
import { connectionOptions } from './pool.ts';

/** How long a starting server waits for another one's migrations. */
const LOCK_WAIT_S = 60;

/**
 * GET_LOCK names are server-wide: include the database so that servers of
 * different databases (parallel test runs) do not wait for each other.
 * MySQL caps lock names at 64 characters.
 */
const LOCK_NAME = "LEFT(CONCAT('usermgr.migrate.', DATABASE()), 64)";

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

function sessionOn(connection: Connection): MigrationSession {
  return {
    async ensureTable() {
      // Looked for first: CREATE ... IF NOT EXISTS needs the CREATE privilege even when the
      // table is there, and a database migrated once by a user that may is then served by
      // one that may only read and write rows (README, "MySQL privileges").
      const [rows] = await connection.query<RowDataPacket[]>(
        `SELECT 1 FROM information_schema.tables
          WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'`,
      );
      if (rows.length === 0) await connection.query(CREATE_TABLE);
    },
    async applied() {
      const [rows] = await connection.query<RowDataPacket[]>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      );
      return rows.map(
        (row): AppliedMigration => ({ version: Number(row.version), name: row.name }),
      );
    },
    async apply(migration, nowMs) {
      // query(), not execute(): not every DDL statement can be prepared.
      for (const statement of migration.statements) await connection.query(statement);
      await connection.query(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
        [migration.version, migration.name, nowMs],
      );
    },
  };
}

/**
 * Migrations on MySQL. The lock is GET_LOCK, held by a dedicated connection
 * (not one from the pool) for the whole run and released with RELEASE_LOCK;
 * if that connection dies, the server releases the lock with it.
 */
export function mysqlMigrationTarget(url: string, connectTimeoutMs: number): MigrationTarget {
  return {
    async exclusive(work) {
      let connection: Connection;
      try {
        connection = await mysql.createConnection(connectionOptions(url, connectTimeoutMs));
      } catch (error) {
        throw classifyMysqlError(error);
      }
      try {
        const [rows] = await connection.query<RowDataPacket[]>(
          `SELECT GET_LOCK(${LOCK_NAME}, ?) AS got`,
          [LOCK_WAIT_S],
        );
        if (Number(rows[0]?.got) !== 1) {
          throw new Error(
            `could not take the migration lock within ${LOCK_WAIT_S} s: ` +
              'another server is still migrating this database',
          );
        }
        try {
          return await work(sessionOn(connection));
        } finally {
          await connection.query(`SELECT RELEASE_LOCK(${LOCK_NAME})`).catch(() => {});
        }
      } finally {
        await connection.end().catch(() => connection.destroy());
      }
    },
  };
}
