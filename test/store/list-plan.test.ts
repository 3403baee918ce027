/**
 * The listing's SQL plans on MariaDB: the statements MysqlStore.list() really
 * runs (recorded on their way to the server) are explained, and run under
 * ANALYZE, on 20,000 rows. Paging in id order must walk the primary key,
 * paging under a prefix the username index, neither may sort, and a page
 * deep into the table must read about `limit` rows, not everything before it
 * (the cost of OFFSET). This is what keeps pages fast at 10 million users.
 *
 * ANALYZE FORMAT=JSON is MariaDB's (the test server; see README).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import { silentLogger } from '../../src/log.ts';
import { MysqlExecutor } from '../../src/store/mysql/executor.ts';
import { createMysqlPool, SESSION_SET_UP } from '../../src/store/mysql/pool.ts';
import { MysqlStore } from '../../src/store/mysql/store.ts';
import { openStore } from '../../src/store/open.ts';
import type { ListOptions } from '../../src/store/port.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';

const ROWS = 20_000;
const LIMITS = { poolSize: 2, queueLimit: 10, queueTimeoutMs: 2000, queryTimeoutMs: 10_000 };

/** An executor that remembers the statements it is asked to run. */
class RecordingExecutor extends MysqlExecutor {
  readonly statements: { sql: string; params: ExecuteValues[] }[] = [];

  override rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
    this.statements.push({ sql, params });
    return super.rows<T>(sql, params);
  }
}

let database: TestDatabase;
let executor: RecordingExecutor;
let store: MysqlStore;

beforeAll(async () => {
  database = await createTestDatabase();
  const migrated = await openStore(
    {
      mysqlUrl: database.url,
      dataDir: '/nonexistent',
      mysql: { ...LIMITS, connectTimeoutMs: 2000 },
    },
    silentLogger,
  );
  await migrated.close();
  executor = new RecordingExecutor(
    createMysqlPool(database.url, { poolSize: 2, connectTimeoutMs: 2000 }),
    LIMITS,
    SESSION_SET_UP,
  );
  store = new MysqlStore(executor);
  for (let first = 1; first <= ROWS; first += 2000) {
    const values = Array.from({ length: 2000 }, (_, k) => {
      const i = first + k;
      return `(${i}, 'user${i}', 'User ${i}', 'hash', '', 0, 1, 1)`;
    });
    await executor.exec(
      'INSERT INTO users (id, username, nickname, password_hash, picture, ' +
        `sessions_valid_after, created_at, updated_at) VALUES ${values.join(',')}`,
      [],
    );
  }
  await executor.exec('ANALYZE TABLE users', []);
  // Revocations as the tokens name sessions (22 base64url characters), all live.
  for (let first = 0; first < ROWS; first += 2000) {
    const values = Array.from({ length: 2000 }, () => {
      const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      return `('${id}', 1, ${Date.now() + 3_600_000})`;
    });
    await executor.exec(
      `INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES ${values.join(',')}`,
      [],
    );
  }
  await executor.exec('ANALYZE TABLE revoked_sessions', []);
});
afterAll(async () => {
  await store?.close();
  await database?.drop();
});

interface Plan {
  key: string | null;
  type: string;
  Extra: string | null;
}

/** The plan and the rows actually read by the statement list() runs for `options`. */
function explain(options: ListOptions) {
  return explainRun(() => store.list(options));
}

/** The plan and the rows actually read by the last statement `run` runs. */
async function explainRun<T>(run: () => Promise<T[]>) {
  executor.statements.length = 0;
  const listed = await run();
  const statement = executor.statements.at(-1);
  if (statement === undefined) throw new Error('the store ran no statement');
  const [plan] = await executor.rows<Plan & RowDataPacket>(
    `EXPLAIN ${statement.sql}`,
    statement.params,
  );
  const [analyzed] = await executor.rows<RowDataPacket>(
    `ANALYZE FORMAT=JSON ${statement.sql}`,
    statement.params,
  );
  type Table = { table?: { r_rows: number } };
  const json = JSON.parse(String(Object.values(analyzed ?? {})[0])) as {
    query_block: Table & { nested_loop?: Table[] };
  };
  const table = json.query_block.nested_loop?.[0]?.table ?? json.query_block.table;
  return { plan: plan as Plan, rowsRead: table?.r_rows, listed };
}

const base: ListOptions = { limit: 500, usernamePrefix: '', afterId: null, afterUsername: null };

describe('mysql store: listing plans', () => {
  it('should page in id order along the primary key, reading one page deep in the table', async () => {
    for (const afterId of [null, String(ROWS / 2), String(ROWS - 600)]) {
      const { plan, rowsRead, listed } = await explain({ ...base, afterId });
      expect(listed).toHaveLength(500);
      expect(plan.key).toBe('PRIMARY');
      expect(plan.Extra ?? '').not.toContain('filesort');
      expect(rowsRead).toBeLessThanOrEqual(501);
    }
  });

  it('should page under a prefix along the username index, reading one page deep in it', async () => {
    // user1, user10..user19, user100..: 11,111 usernames start with "user1".
    for (const afterUsername of [null, 'user15', 'user19990']) {
      const { plan, rowsRead, listed } = await explain({
        ...base,
        usernamePrefix: 'USER1',
        afterUsername,
      });
      expect(listed.length).toBeGreaterThan(0);
      expect(plan.key).toBe('users_username_uq');
      expect(plan.type).toBe('range');
      expect(plan.Extra ?? '').not.toContain('filesort');
      expect(rowsRead).toBeLessThanOrEqual(501);
    }
  });
});

describe('mysql store: the revoked sessions a reload reads', () => {
  it('should read a range a page at a time along the primary key, however deep the page', async () => {
    const now = Date.now();
    // A page deep in the table starts at an id half way through it.
    const [middle] = await executor.rows<{ session_id: string } & RowDataPacket>(
      `SELECT session_id FROM revoked_sessions ORDER BY session_id LIMIT 1 OFFSET ${ROWS / 2}`,
      [],
    );
    const deep = middle?.session_id as string;
    for (const [from, before] of [
      ['', null],
      ['M', 'N'],
      ['g', null],
      [deep, null],
      [deep, `${deep.slice(0, 1)}~`],
    ] as const) {
      const { plan, rowsRead, listed } = await explainRun(() =>
        store.listRevokedSessions(now, { from, before, limit: 100 }),
      );
      expect(listed.length).toBeGreaterThan(0);
      expect(plan.key).toBe('PRIMARY');
      expect(plan.Extra ?? '').not.toContain('filesort');
      expect(rowsRead).toBeLessThanOrEqual(101);
    }
  });
});
