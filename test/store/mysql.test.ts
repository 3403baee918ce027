import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { RowDataPacket } from 'mysql2/promise';
import { silentLogger } from '../../src/log.ts';
import { loadMigrations, migrate, migrationsDir } from '../../src/store/migrate.ts';
import { classifyMysqlError } from '../../src/store/mysql/errors.ts';
import { mysqlMigrationTarget } from '../../src/store/mysql/migration-target.ts';
import { createMysqlStore, type MysqlStoreOptions } from '../../src/store/mysql/open.ts';
import { openStore, type StoreOptions } from '../../src/store/open.ts';
import { RpcError } from '../../src/wire/rpc-error.ts';
import { Status } from '../../src/wire/status.ts';
import {
  createTestDatabase,
  TEST_MYSQL_URL,
  type TestDatabase,
  withAdmin,
} from '../support/mysql.ts';
import { describeStoreContract, newUser } from './contract.ts';
import { TcpProxy } from './tcp-proxy.ts';

const LIMITS: MysqlStoreOptions = {
  poolSize: 8,
  queueLimit: 1000,
  queueTimeoutMs: 2000,
  queryTimeoutMs: 5000,
  connectTimeoutMs: 2000,
};

function options(url: string, limits: Partial<MysqlStoreOptions> = {}): StoreOptions {
  return { mysqlUrl: url, dataDir: '/nonexistent', mysql: { ...LIMITS, ...limits } };
}

function migrateUrl(url: string): Promise<number[]> {
  return loadMigrations(migrationsDir('mysql')).then((migrations) =>
    migrate(mysqlMigrationTarget(url, 2000), migrations, silentLogger),
  );
}

/** The rejection of `promise` and how long it took to come. */
async function failure(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

function expectUnavailable(error: unknown, message: string): void {
  expect(error).toBeInstanceOf(RpcError);
  expect((error as RpcError).code).toBe(Status.UNAVAILABLE);
  expect((error as RpcError).message).toBe(message);
}

const server = new URL(TEST_MYSQL_URL);
const serverHost = server.hostname;
const serverPort = Number(server.port || 3306);

/** `url` with its host and port replaced by the proxy's. */
function proxied(url: string, port: number): string {
  const through = new URL(url);
  through.hostname = '127.0.0.1';
  through.port = String(port);
  return through.toString();
}

/** The first result of `call` that does not throw, trying for up to two seconds. */
async function eventually<T>(call: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + 2000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await Bun.sleep(50);
    }
  }
}

/** A TCP port on which nothing listens: bound, then released. */
function closedPort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

describeStoreContract('mysql', async () => {
  const database = await createTestDatabase();
  try {
    const store = await openStore(options(database.url), silentLogger);
    return {
      store,
      migrateAgain: () => migrateUrl(database.url),
      async dispose() {
        await store.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
});

describe('mysql store: outages and limits', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    await migrateUrl(database.url);
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('should answer UNAVAILABLE quickly when the server is unreachable, every time', async () => {
    const url = `mysql://root@127.0.0.1:${closedPort()}/nothing`;
    const store = createMysqlStore(url, { ...LIMITS, poolSize: 2 });
    try {
      // More calls than connections: a failed connect must not stay in the pool.
      for (let i = 0; i < 5; i++) {
        const { error, ms } = await failure(store.findByUsername('someone'));
        expectUnavailable(error, 'database unavailable');
        expect(ms).toBeLessThan(500);
      }
    } finally {
      await store.close();
    }
    const { error, ms } = await failure(openStore(options(url), silentLogger));
    expectUnavailable(error, 'database unavailable');
    expect(ms).toBeLessThan(500);
  });

  it('should refuse with database busy instead of queueing without end', async () => {
    const store = createMysqlStore(database.url, {
      ...LIMITS,
      poolSize: 1,
      queueLimit: 1,
      queueTimeoutMs: 100,
    });
    try {
      await store.ping();
      const holder = store.db.run((s) => s.rows('SELECT SLEEP(0.6)', []));
      const waiter = failure(store.findByUsername('someone'));
      // Lookups of one turn share a statement: the next one is of a later turn.
      await new Promise((turn) => setImmediate(turn));
      const { error: full, ms: fullMs } = await failure(store.findByUsername('someone-else'));
      expectUnavailable(full, 'database busy');
      expect((full as RpcError).retryAfterS).toBe(1);
      expect(fullMs).toBeLessThan(100);
      const { error: late, ms: lateMs } = await waiter;
      expectUnavailable(late, 'database busy');
      expect(lateMs).toBeGreaterThanOrEqual(90);
      expect(lateMs).toBeLessThan(400);
      await holder;
      expect(await store.findByUsername('someone')).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('should time a statement out and never reuse its connection', async () => {
    const store = createMysqlStore(database.url, {
      ...LIMITS,
      poolSize: 1,
      queryTimeoutMs: 200,
      breakMs: 300,
    });
    try {
      await store.ping();
      const [first, second] = await Promise.all([
        failure(store.db.run((s) => s.rows('SELECT SLEEP(3)', []))),
        failure(store.db.run((s) => s.rows('SELECT SLEEP(3)', []))),
      ]);
      for (const { error, ms } of [first, second]) {
        expectUnavailable(error, 'database unavailable');
        expect(ms).toBeLessThan(1000);
      }
      // Two timeouts opened the breaker: refused at once, not after another timeout.
      const refused = await failure(store.ping());
      expectUnavailable(refused.error, 'database unavailable');
      expect(refused.ms).toBeLessThan(50);
      await Bun.sleep(300);
      // The first caller starts the executor's probe and is refused at once; the probe
      // gets its answer at once too: with one connection, a reused one would make it
      // wait for SLEEP(3).
      const started = performance.now();
      expectUnavailable((await failure(store.ping())).error, 'database unavailable');
      let answered = false;
      while (!answered && performance.now() - started < 3000) {
        answered = await store.ping().then(
          () => true,
          () => Bun.sleep(10).then(() => false),
        );
      }
      expect(answered).toBe(true);
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      await store.close();
    }
  });

  it('should heal after the server kills its connections', async () => {
    const store = createMysqlStore(database.url, { ...LIMITS, poolSize: 2 });
    try {
      const user = newUser();
      await store.create(user);
      await Promise.all([store.ping(), store.ping()]);
      const killed = await withAdmin(async (admin) => {
        const [rows] = await admin.query<RowDataPacket[]>(
          'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?',
          [database.name],
        );
        for (const row of rows) await admin.query(`KILL ${Number(row.ID)}`);
        return rows.length;
      });
      expect(killed).toBeGreaterThan(0);
      const failures: unknown[] = [];
      let found = null;
      for (let attempt = 0; attempt < 5 && found === null; attempt++) {
        found = await store.findById(user.id).catch((e: unknown) => {
          failures.push(e);
          return null;
        });
      }
      expect(found).toEqual(user);
      for (const error of failures) expectUnavailable(error, 'database unavailable');
      // Every later call works: no dead connection is handed out again.
      for (let i = 0; i < 10; i++) expect(await store.findById(user.id)).toEqual(user);
    } finally {
      await store.close();
    }
  });

  it('should recover by itself when the server comes back', async () => {
    const proxy = new TcpProxy(serverHost, serverPort);
    await proxy.start();
    const store = createMysqlStore(proxied(database.url, proxy.port), {
      ...LIMITS,
      poolSize: 2,
      connectTimeoutMs: 300,
      queryTimeoutMs: 300,
    });
    try {
      const user = newUser();
      await store.create(user);
      await proxy.stop();
      for (let i = 0; i < 4; i++) {
        const { error, ms } = await failure(store.findById(user.id));
        expectUnavailable(error, 'database unavailable');
        expect(ms).toBeLessThan(500);
      }
      await proxy.start();
      expect(await eventually(() => store.findById(user.id))).toEqual(user);
      for (let i = 0; i < 10; i++) expect(await store.findById(user.id)).toEqual(user);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('should drop connections to a server that stops answering', async () => {
    const proxy = new TcpProxy(serverHost, serverPort);
    await proxy.start();
    const store = createMysqlStore(proxied(database.url, proxy.port), {
      ...LIMITS,
      poolSize: 2,
      connectTimeoutMs: 300,
      queryTimeoutMs: 300,
      breakMs: 0, // the breaker has a test of its own (above); this one is about the connections
    });
    try {
      const user = newUser();
      await store.create(user);
      await Promise.all([store.ping(), store.ping()]);
      proxy.blackhole = true;
      const outcomes = await Promise.all([failure(store.ping()), failure(store.ping())]);
      for (const { error, ms } of outcomes) {
        expectUnavailable(error, 'database unavailable');
        expect(ms).toBeLessThan(1000);
      }
      proxy.blackhole = false;
      // The hung connections were destroyed: the next calls get fresh ones.
      const started = performance.now();
      expect(await store.findById(user.id)).toEqual(user);
      expect(await store.findById(user.id)).toEqual(user);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('should time out a new connection whose set-up statement hangs', async () => {
    const proxy = new TcpProxy(serverHost, serverPort);
    await proxy.start();
    proxy.dropFromClient = (chunk) => chunk.includes('sql_mode');
    const store = createMysqlStore(proxied(database.url, proxy.port), {
      ...LIMITS,
      poolSize: 1,
      queryTimeoutMs: 300,
      breakMs: 0,
    });
    try {
      const { error, ms } = await failure(store.ping());
      expectUnavailable(error, 'database unavailable');
      expect(ms).toBeLessThan(1000);
      proxy.dropFromClient = () => false;
      await store.ping();
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('should time out a statement whose PREPARE hangs', async () => {
    const proxy = new TcpProxy(serverHost, serverPort);
    await proxy.start();
    const store = createMysqlStore(proxied(database.url, proxy.port), {
      ...LIMITS,
      poolSize: 1,
      queryTimeoutMs: 300,
      breakMs: 0,
    });
    try {
      await store.ping();
      proxy.dropFromClient = (chunk) => chunk.includes('hang_here');
      const { error, ms } = await failure(store.db.rows('SELECT 1 AS hang_here', []));
      expectUnavailable(error, 'database unavailable');
      expect(ms).toBeLessThan(1000);
      await store.ping();
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('should run every connection in strict mode, whatever the server default', async () => {
    const store = createMysqlStore(database.url, LIMITS);
    try {
      const [row] = await store.db.rows('SELECT @@SESSION.sql_mode AS mode', []);
      expect(String(row?.mode).split(',')).toContain('STRICT_ALL_TABLES');
    } finally {
      await store.close();
    }
  });

  it('should answer UNAVAILABLE, not fail, while MariaDB refuses a write its user lost the privilege for, and write again once it is back', async () => {
    const database = await createTestDatabase();
    await migrateUrl(database.url);
    const user = `usermgr_tables_${process.pid}`;
    const db = `\`${database.name}\``;
    // Table privileges: MariaDB checks them at every statement (a database-wide
    // privilege taken away counts only from a connection's next USE).
    const tables = await withAdmin(async (admin) => {
      const [rows] = await admin.query<RowDataPacket[]>(
        'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ?',
        [database.name],
      );
      await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'tables-secret'`);
      for (const { t } of rows)
        await admin.query(
          `GRANT SELECT, INSERT, UPDATE, DELETE ON ${db}.\`${t}\` TO '${user}'@'%'`,
        );
      return rows.length;
    });
    expect(tables).toBeGreaterThan(3);
    const url = new URL(database.url);
    url.username = user;
    url.password = 'tables-secret';
    const store = createMysqlStore(url.toString(), LIMITS);
    try {
      expect(await store.create(newUser())).toBe('created');
      await withAdmin((admin) => admin.query(`REVOKE INSERT ON ${db}.users FROM '${user}'@'%'`));
      const { error } = await failure(store.create(newUser()));
      expectUnavailable(error, 'database unavailable');
      expect((error as RpcError).retryAfterS).toBe(1);
      expect(((error as RpcError).cause as { errno?: number }).errno).toBe(1142);
      // Reads go on meanwhile.
      expect(await store.findByUsername('nobody_here')).toBeNull();
      await withAdmin((admin) => admin.query(`GRANT INSERT ON ${db}.users TO '${user}'@'%'`));
      expect(await store.create(newUser())).toBe('created');
    } finally {
      await store.close();
      await withAdmin((admin) => admin.query(`DROP USER IF EXISTS '${user}'@'%'`));
      await database.drop();
    }
  });

  it('should classify driver errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const tooMany = Object.assign(new Error('Too many connections'), { errno: 1040 });
    const killed = Object.assign(new Error('Connection was killed'), { errno: 1927 });
    const syntax = Object.assign(new Error('syntax'), { code: 'ER_PARSE_ERROR', errno: 1064 });
    const full = Object.assign(new Error("The table 'users' is full"), { errno: 1114 });
    const diskFull = Object.assign(new Error('Disk full'), { errno: 1021 });
    for (const error of [refused, tooMany, killed, full, diskFull]) {
      expectUnavailable(classifyMysqlError(error), 'database unavailable');
      expect((classifyMysqlError(error) as RpcError).cause).toBe(error);
    }
    expect(classifyMysqlError(syntax)).toBe(syntax);
  });
});

describe('mysql store: lookups by username', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('should read the usernames looked up in one turn with one statement', async () => {
    const store = createMysqlStore(database.url, LIMITS);
    await migrateUrl(database.url);
    try {
      const users = Array.from({ length: 12 }, () => newUser());
      for (const user of users) expect(await store.create(user)).toBe('created');
      const statements: string[] = [];
      const rows = store.db.rows.bind(store.db);
      store.db.rows = (sql, params) => {
        statements.push(sql);
        return rows(sql, params);
      };
      const found = await Promise.all(users.map((u) => store.findByUsername(u.username)));
      expect(found).toEqual(users);
      expect(statements).toHaveLength(1);
      expect(statements[0]).toContain('username IN (');
    } finally {
      await store.close();
    }
  });
});

describe('mysql store: a large batch of listed sessions', () => {
  it('should save it with a few statements at once, every session kept', async () => {
    const database = await createTestDatabase();
    const store = createMysqlStore(database.url, LIMITS);
    try {
      await migrateUrl(database.url);
      const now = Date.now();
      const users = Array.from({ length: 11 }, (_, i) => String(1000 + i));
      const sessions = Array.from({ length: 1100 }, (_, i) => ({
        sessionId: `s${i}`.padEnd(22, 'x'),
        userId: users[i % users.length] as string,
        createdAtMs: now - i,
        expiresAtMs: now + 60_000,
        persistent: false,
        address: '127.0.0.1',
        userAgent: 'test',
      }));
      let running = 0;
      let most = 0;
      const exec = store.db.exec.bind(store.db);
      store.db.exec = async (sql, params) => {
        most = Math.max(most, ++running);
        try {
          return await exec(sql, params);
        } finally {
          running--;
        }
      };
      await store.saveSessions(sessions);
      // 4 x 256 + 64 + 4 x 4: each on its own connection, four at a time.
      expect(most).toBe(4);
      for (const user of users) expect(await store.listSessions(user, now, 500)).toHaveLength(100);

      // A failed statement: the others still running are awaited, no chunk starts after it.
      let calls = 0;
      store.db.exec = async (sql, params) => {
        if (calls++ === 0) throw new Error('database busy');
        await Bun.sleep(200);
        return exec(sql, params);
      };
      const started = performance.now();
      await expect(store.saveSessions(sessions)).rejects.toThrow('database busy');
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      expect(calls).toBe(4);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

/** Applies the migrations up to `version` and no further; returns the versions applied. */
async function migrateUpTo(url: string, version: number): Promise<number[]> {
  const all = await loadMigrations(migrationsDir('mysql'));
  return migrate(
    mysqlMigrationTarget(url, 2000),
    all.filter((m) => m.version <= version),
    silentLogger,
  );
}

describe('mysql store: migrations', () => {
  it('should apply each migration once when two servers start at once', async () => {
    const database = await createTestDatabase();
    try {
      const results = await Promise.all([migrateUrl(database.url), migrateUrl(database.url)]);
      const versions = (await loadMigrations(migrationsDir('mysql'))).map((m) => m.version);
      expect(results.flat().sort()).toEqual(versions);
      const [rows] = await withAdmin((admin) =>
        admin.query<RowDataPacket[]>(
          `SELECT version FROM \`${database.name}\`.schema_migrations ORDER BY version`,
        ),
      );
      expect(rows.map((r) => Number(r.version))).toEqual(versions);
    } finally {
      await database.drop();
    }
  });

  it('should add two-step login to users already there, and run 004 again when it was not recorded', async () => {
    const database = await createTestDatabase();
    try {
      const upTo = (version: number) => migrateUpTo(database.url, version);
      expect(await upTo(3)).toEqual([1, 2, 3]);
      const before = newUser();
      const { totpSecret: _, ...columns } = before;
      await withAdmin((admin) =>
        admin.query(
          `INSERT INTO \`${database.name}\`.users (id, username, nickname, password_hash, ` +
            'picture, sessions_valid_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          Object.values(columns),
        ),
      );
      expect(await upTo(4)).toEqual([4]);
      // A crash between the ALTER and its record: the file runs again, harmlessly.
      await withAdmin((admin) =>
        admin.query(`DELETE FROM \`${database.name}\`.schema_migrations WHERE version = 4`),
      );
      expect(await upTo(4)).toEqual([4]);
      const store = await openStore(options(database.url), silentLogger);
      try {
        expect(await store.findById(before.id)).toEqual(before);
        expect(await store.recoveryCodesLeft(before.id)).toBe(0);
      } finally {
        await store.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('should widen the nickname (009) keeping the users there, and run again harmlessly', async () => {
    const database = await createTestDatabase();
    try {
      const upTo = (version: number) => migrateUpTo(database.url, version);
      expect(await upTo(8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const before = newUser({ nickname: 'Ünï 🎉', version: 3 });
      const { totpSecret: _, ...columns } = before;
      await withAdmin((admin) =>
        admin.query(
          `INSERT INTO \`${database.name}\`.users (id, username, nickname, password_hash, ` +
            'picture, sessions_valid_after, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          Object.values(columns),
        ),
      );
      expect(await upTo(9)).toEqual([9]);
      await withAdmin((admin) =>
        admin.query(`DELETE FROM \`${database.name}\`.schema_migrations WHERE version = 9`),
      );
      expect(await upTo(9)).toEqual([9]);
      const store = await openStore(options(database.url), silentLogger);
      try {
        expect(await store.findById(before.id)).toEqual(before);
        const wide = newUser({ nickname: '👩🏽‍💻'.repeat(64) });
        expect(await store.create(wide)).toBe('created');
        expect((await store.findById(wide.id))?.nickname).toBe(wide.nickname);
      } finally {
        await store.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('should create the tables with the intended character sets', async () => {
    const database = await createTestDatabase();
    try {
      await migrateUrl(database.url);
      const [rows] = await withAdmin((admin) =>
        admin.query<RowDataPacket[]>(
          'SELECT COLUMN_NAME AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS ' +
            "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'users' AND COLLATION_NAME IS NOT NULL",
          [database.name],
        ),
      );
      expect(Object.fromEntries(rows.map((r) => [r.name, r.collation]))).toEqual({
        username: 'ascii_general_ci',
        nickname: 'utf8mb4_bin',
        password_hash: 'ascii_bin',
        picture: 'ascii_bin',
        totp_secret: 'ascii_bin',
        totp_pending: 'ascii_bin',
        totp_recovery: 'ascii_bin',
      });
    } finally {
      await database.drop();
    }
  });
});
