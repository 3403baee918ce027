/**
 * `npm run bench:admin-list -- [--runs 21] [--limit 500] [--prefix user5] [--explain]
 *   [--url URL] [--users N] [--cache on|off]`
 *
 * How long one page of GET /users takes, one request at a time, for pages
 * at the start, in the middle and at the end of the table: keyset
 * pagination must make them cost the same however deep they are.
 *
 * Starts the TCP server and the HTTP server as two processes against
 * MYSQL_URL (seeded with `npm run seed`), with a random ADMIN_TOKEN (or
 * ADMIN_TOKEN when set) and, with `--cache on`, Redis at REDIS_URL; or
 * measures a running server given with `--url` (then ADMIN_TOKEN must be
 * its token). The id range comes from MYSQL_URL (MIN and MAX of the primary
 * key), else from `--users` (seeded ids are 1..N).
 *
 * Each case is requested once ("cold"), then all are warmed up together and
 * timed `--runs` times, in rounds over all cases; the time is from sending
 * the request to having read the whole body. Prints a table and, last, one
 * JSON line.
 * `--explain` also prints MariaDB's plans for the statements the store runs.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { encodeCursor, type ListPosition } from '../src/core/list-cursor.ts';
import { MysqlExecutor } from '../src/store/mysql/executor.ts';
import { createMysqlPool, SESSION_SET_UP } from '../src/store/mysql/pool.ts';
import { MysqlStore } from '../src/store/mysql/store.ts';
import { startServer, stopServers, waitUntilReady } from './procs.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '21' },
    limit: { type: 'string', default: '500' },
    prefix: { type: 'string', default: 'user5' },
    users: { type: 'string', default: '10000000' },
    url: { type: 'string', default: '' },
    cache: { type: 'string', default: 'on' },
    explain: { type: 'boolean', default: false },
    'http-port': { type: 'string', default: '18180' },
    'tcp-port': { type: 'string', default: '19190' },
  },
});
const runs = Number(values.runs);
const limit = Number(values.limit);
const prefix = values.prefix as string;
const mysqlUrl = process.env.MYSQL_URL ?? '';
const TARGET_MS = 20;
const WARM_ROUNDS = 10;

if (values.url === '' && mysqlUrl === '') {
  console.error('set MYSQL_URL (a database seeded with `npm run seed`), or give --url of a server');
  process.exit(2);
}
if (values.url !== '' && (process.env.ADMIN_TOKEN ?? '') === '') {
  console.error('--url needs ADMIN_TOKEN: the token that server is configured with');
  process.exit(2);
}
const token = process.env.ADMIN_TOKEN || randomBytes(32).toString('base64url');

/** The smallest and largest id: from the database, else the seed's 1..--users. */
async function idRange(): Promise<{ min: bigint; max: bigint }> {
  if (mysqlUrl === '') return { min: 1n, max: BigInt(values.users as string) };
  const conn = await mysql.createConnection({
    uri: mysqlUrl,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    const [[row]] = await conn.query<RowDataPacket[]>(
      'SELECT MIN(id) AS min, MAX(id) AS max FROM users',
    );
    if (row?.min === null || row?.min === undefined) throw new Error('the users table is empty');
    return { min: BigInt(row.min), max: BigInt(row.max) };
  } finally {
    await conn.end();
  }
}

interface Case {
  name: string;
  query: string;
  position: ListPosition | null;
}

function cases(min: bigint, max: bigint): Case[] {
  const id = (name: string, afterId: bigint | null): Case => {
    const position: ListPosition | null =
      afterId === null ? null : { order: 'id', afterId: String(afterId) };
    const cursor = position ? `&cursor=${encodeCursor(position)}` : '';
    return { name, query: `limit=${limit}${cursor}`, position };
  };
  const name = (label: string, afterUsername: string | null): Case => {
    const position: ListPosition | null =
      afterUsername === null ? null : { order: 'username', prefix, afterUsername };
    const cursor = position ? `&cursor=${encodeCursor(position)}` : '';
    return { name: label, query: `limit=${limit}&username_prefix=${prefix}${cursor}`, position };
  };
  const last = max - BigInt(limit);
  return [
    id('first page (id order)', null),
    id('middle page (id order)', (min + max) / 2n),
    id('last full page (id order)', last < min ? min : last),
    id('past the end (id order)', max),
    name(`first page (prefix ${prefix})`, null),
    // For the seed's names (user<i>) this is about halfway through the prefix.
    name(`middle page (prefix ${prefix})`, `${prefix}5`),
  ];
}

interface Sample {
  ms: number;
  users: number;
  bytes: number;
}

async function timeOnce(base: string, query: string): Promise<Sample> {
  const started = performance.now();
  const res = await fetch(`${base}/users?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = await res.arrayBuffer();
  const ms = performance.now() - started;
  if (res.status !== 200) {
    throw new Error(
      `GET /users?${query} answered ${res.status}: ${new TextDecoder().decode(body)}`,
    );
  }
  const users = (JSON.parse(new TextDecoder().decode(body)) as { users: unknown[] }).users.length;
  return { ms, users, bytes: body.byteLength };
}

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Times every case: first one request each (its "cold" time: nothing of it
 * is cached yet), then WARM_ROUNDS rounds over all cases (JIT, connections,
 * buffer pool), then `runs` timed rounds. Rounds go over all cases in turn,
 * so the machine's noise falls on every case alike.
 */
async function measureAll(base: string, list: Case[]) {
  const cold: Sample[] = [];
  for (const c of list) cold.push(await timeOnce(base, c.query));
  for (let round = 0; round < WARM_ROUNDS; round++) {
    for (const c of list) await timeOnce(base, c.query);
  }
  const times: number[][] = list.map(() => []);
  const samples = [...cold];
  for (let round = 0; round < runs; round++) {
    for (const [k, c] of list.entries()) {
      const sample = await timeOnce(base, c.query);
      times[k]?.push(sample.ms);
      samples[k] = sample;
    }
  }
  return list.map((c, k) => {
    const sorted = (times[k] as number[]).sort((a, b) => a - b);
    const sample = samples[k] as Sample;
    return {
      case: c.name,
      users: sample.users,
      kb: Math.round(sample.bytes / 1024),
      cold_ms: round((cold[k] as Sample).ms),
      min_ms: round(sorted[0] as number),
      median_ms: round(percentile(sorted, 0.5)),
      p90_ms: round(percentile(sorted, 0.9)),
      max_ms: round(sorted.at(-1) as number),
    };
  });
}

/** MariaDB's plans for the statements the store runs for these cases. */
async function explain(list: Case[]): Promise<void> {
  const statements: { sql: string; params: ExecuteValues[] }[] = [];
  class Recording extends MysqlExecutor {
    override rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
      statements.push({ sql, params });
      return super.rows<T>(sql, params);
    }
  }
  const limits = { poolSize: 1, queueLimit: 10, queueTimeoutMs: 5000, queryTimeoutMs: 60_000 };
  const executor = new Recording(
    createMysqlPool(mysqlUrl, { poolSize: 1, connectTimeoutMs: 5000 }),
    limits,
    SESSION_SET_UP,
  );
  const store = new MysqlStore(executor);
  try {
    for (const c of list) {
      const p = c.position;
      statements.length = 0;
      await store.list({
        limit,
        usernamePrefix: c.query.includes('username_prefix') ? prefix : '',
        afterId: p?.order === 'id' ? p.afterId : null,
        afterUsername: p?.order === 'username' ? p.afterUsername : null,
      });
      const run = statements[0];
      if (run === undefined) continue;
      const plan = await executor.rows<RowDataPacket>(`EXPLAIN ${run.sql}`, run.params);
      for (const row of plan) {
        console.log(
          `  ${c.name}: key=${row.key} type=${row.type} rows~${row.rows} extra=${row.Extra ?? ''}`,
        );
      }
    }
  } finally {
    await store.close();
  }
}

const { min, max } = await idRange();
const list = cases(min, max);
const servers =
  values.url === ''
    ? [
        startServer('tcp', 'src/tcp/main.ts', {
          LOG_LEVEL: 'warn',
          MYSQL_URL: mysqlUrl,
          REDIS_URL: values.cache === 'on' ? process.env.REDIS_URL || 'redis://127.0.0.1:6379' : '',
          REDIS_KEY_PREFIX: 'bench:',
          ADMIN_TOKEN: token,
          TCP_PORT: values['tcp-port'],
        }),
        startServer('http', 'src/http/main.ts', {
          LOG_LEVEL: 'warn',
          HTTP_PORT: values['http-port'],
          HTTP_METRICS_PORT: '0',
          TCP_ADDRS: `127.0.0.1:${values['tcp-port']}`,
        }),
      ]
    : [];
const base = (values.url || `http://127.0.0.1:${values['http-port']}`).replace(/\/$/, '');
try {
  await waitUntilReady(`${base}/readyz`, servers);
  console.log(`GET /users, limit ${limit}, ids ${min}..${max}, ${runs} timed runs per case`);
  if (values.explain && mysqlUrl !== '') await explain(list);
  const results = await measureAll(base, list);
  for (const r of results) {
    const verdict = r.median_ms < TARGET_MS ? 'ok' : `OVER ${TARGET_MS} ms`;
    console.log(
      `  ${r.case.padEnd(34)} ${String(r.users).padStart(4)} users ${String(r.kb).padStart(4)} KB  ` +
        `median ${r.median_ms} ms  p90 ${r.p90_ms} ms  min ${r.min_ms} ms  cold ${r.cold_ms} ms  ${verdict}`,
    );
  }
  console.log(JSON.stringify({ limit, runs, min_id: String(min), max_id: String(max), results }));
} finally {
  await stopServers(servers);
}
