/**
 * Throwaway MariaDB databases for tests. Each call creates its own
 * `usermgr_test_<random>` database; drop() removes exactly that one and
 * nothing else. An unreachable server is a failure (never a skip) whose
 * message says how to start it.
 */
import { randomBytes } from 'node:crypto';
import mysql, { type Connection } from 'mysql2/promise';

/** The server the tests use; any database in the URL is ignored. */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';

const MARIADB_START_HINT =
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

const OURS = /^usermgr_test_[0-9a-f]{16}$/;

export interface TestDatabase {
  /** TEST_MYSQL_URL pointing at the new database. */
  url: string;
  name: string;
  /** Drops the database; safe to call twice. */
  drop(): Promise<void>;
}

function urlFor(database: string): string {
  const url = new URL(TEST_MYSQL_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A connection to the test server with no default database, or a failure that says what to do. */
async function adminConnection(): Promise<Connection> {
  try {
    return await mysql.createConnection({ uri: urlFor(''), connectTimeout: 10_000 });
  } catch (error) {
    const url = new URL(TEST_MYSQL_URL);
    url.password = url.password === '' ? '' : '***';
    throw new Error(
      `MariaDB is not reachable at ${url} (${(error as Error).message}). ` +
        `These tests need it: start it with \`${MARIADB_START_HINT}\` ` +
        '(or point TEST_MYSQL_URL at another server).',
      { cause: error },
    );
  }
}

/** Runs `work` on an admin connection and closes it. */
export async function withAdmin<T>(work: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await adminConnection();
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/** Creates an empty database of our own. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `usermgr_test_${randomBytes(8).toString('hex')}`;
  await withAdmin((admin) =>
    admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`),
  );
  let dropped = false;
  return {
    url: urlFor(name),
    name,
    async drop() {
      // Belt and braces: only ever drop a name this module generated.
      if (dropped || !OURS.test(name)) return;
      dropped = true;
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS \`${name}\``));
    },
  };
}
