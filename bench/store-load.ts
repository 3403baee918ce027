/**
 * `bun bench/store-load.ts [--cache on|off] [--users 200] [--rounds 5] [--pages 50]`
 *
 * Where MariaDB's load comes from: store operations per request, by
 * operation, for each kind of request, read from the TCP server's
 * `usermgr_store_duration_seconds_count` before and after each phase. Each
 * operation is marked with where it must read when replicas exist: the
 * primary (it writes, decides access, or follows the same user's write) or a
 * replica (it tolerates lag). This is the measurement behind the replica
 * routing in docs/DESIGN.md (Data).
 *
 * Starts the TCP server and the HTTP server as two processes against a
 * database of its own on the MariaDB of MYSQL_URL (default
 * mysql://root@127.0.0.1:3306; the database `usermgr_storeload` is created and
 * dropped) and, with `--cache on`, Redis at REDIS_URL. Counts do not depend on
 * the argon2 cost, so it uses a cheap one. A phase marked "settled" starts
 * after `--settle` ms without writes: a write leaves a tombstone in the cache
 * for a few seconds, during which its user's lookups read the store (the
 * read-after-write case). Prints a table and a JSON line.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from '../test/support/redis.ts';
import { startServer, stopServers, waitUntilReady } from './procs.ts';

const { values } = parseArgs({
  options: {
    cache: { type: 'string', default: 'on' },
    users: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
    pages: { type: 'string', default: '50' },
    // Longer than the cache tombstone a write leaves (max(5 s, 2 x MYSQL_QUERY_TIMEOUT_MS)).
    settle: { type: 'string', default: '7000' },
  },
});
const userCount = Number(values.users);
const rounds = Number(values.rounds);
const server = new URL(process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/');
server.pathname = '/';
const DATABASE = 'usermgr_storeload';
const token = randomBytes(32).toString('base64url');
const PASSWORD = 'store load bench passphrase';

/** Reads that may go to a replica; every other operation must use the primary (DESIGN.md, Data). */
const TOLERANT = new Set(['list']);

async function admin(sql: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: server.href });
  await connection.query(sql);
  await connection.end();
}

await admin(`DROP DATABASE IF EXISTS ${DATABASE}`);
await admin(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
const [httpPort, tcpPort, opsPort] = [await freePort(), await freePort(), await freePort()];
const env = {
  LOG_LEVEL: 'warn',
  MYSQL_URL: new URL(DATABASE, server).href,
  REDIS_URL: values.cache === 'on' ? process.env.REDIS_URL || 'redis://127.0.0.1:6379' : '',
  REDIS_KEY_PREFIX: `storeload${process.pid}:`,
  ADMIN_TOKEN: token,
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_TIME_COST: '1',
  RATE_LIMIT_IP_PER_S: '100000000',
  RATE_LIMIT_IP_BURST: '100000000',
  // Every request comes from 127.0.0.1: the hash queue's share per address too.
  HASH_QUEUE_PER_ADDRESS: '100000',
  TCP_PORT: String(tcpPort),
  TCP_METRICS_PORT: String(opsPort),
  HTTP_PORT: String(httpPort),
  HTTP_METRICS_PORT: '0',
  TCP_ADDRS: `127.0.0.1:${tcpPort}`,
};
const tcp = startServer('tcp', 'src/tcp/main.ts', env);
await waitUntilReady(`http://127.0.0.1:${opsPort}/readyz`, [tcp]);
const http = startServer('http', 'src/http/main.ts', env);
const base = `http://127.0.0.1:${httpPort}`;

/** Store operations so far, by operation (ok and error alike). */
async function storeOperations(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match =
      /^usermgr_store_duration_seconds_count\{[^}]*operation="(\w+)"[^}]*\} (\d+)$/.exec(line);
    if (match)
      counts.set(match[1] as string, (counts.get(match[1] as string) ?? 0) + Number(match[2]));
  }
  return counts;
}

/** Runs `requests` 32 at a time; every answer must be 2xx. */
async function run(requests: (() => Promise<Response>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const res = await (requests[next++] as () => Promise<Response>)();
      await res.arrayBuffer();
      if (res.status >= 300) throw new Error(`${res.url} answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

const json = (method: string, body: unknown, bearer?: string): RequestInit => ({
  method,
  headers: {
    'content-type': 'application/json',
    ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
  },
  body: JSON.stringify(body),
});

const names = Array.from({ length: userCount }, (_, i) => `load${i}`);
const tokens = new Map<string, string>();
const login = (name: string) => async () => {
  const res = await fetch(
    `${base}/open_api/v1/authenticate`,
    json('POST', { username: name, password: PASSWORD }),
  );
  const copy = res.clone();
  tokens.set(name, ((await copy.json()) as { token: string }).token);
  return res;
};
const times = <T>(n: number, items: T[]) => Array.from({ length: n }, () => items).flat();
const profile = (name: string) => () =>
  fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${tokens.get(name)}` } });

type Phase = [string, () => (() => Promise<Response>)[]];
const settled = (phase: Phase): Phase => [`${phase[0]} (settled)`, phase[1]];
const phases: Phase[] = [
  [
    'sign-up',
    () =>
      names.map(
        (username) => () =>
          fetch(`${base}/open_api/v1/register`, json('POST', { username, password: PASSWORD })),
      ),
  ],
  ['first login, right after sign-up', () => names.map(login)],
  settled(['login', () => times(rounds, names).map(login)]),
  ['profile read', () => times(rounds, names).map(profile)],
  [
    'nickname update',
    () =>
      names.map(
        (name, i) => () =>
          fetch(
            `${base}/api/v1/me`,
            json('PATCH', { nickname: `n ${i} ${Date.now()}` }, tokens.get(name)),
          ),
      ),
  ],
  ['profile read, right after the update', () => names.map(profile)],
  settled(['profile read', () => times(rounds, names).map(profile)]),
  [
    'admin listing page',
    () =>
      Array.from(
        { length: Number(values.pages) },
        (_, i) => () =>
          fetch(`${base}/users?limit=50&username_prefix=load${i % 10}`, {
            headers: { authorization: `Bearer ${token}` },
          }),
      ),
  ],
];

const results: { phase: string; requests: number; perRequest: Record<string, number> }[] = [];
try {
  await waitUntilReady(`${base}/readyz`, [tcp, http]);
  for (const [phase, make] of phases) {
    if (phase.endsWith('(settled)')) await Bun.sleep(Number(values.settle));
    const requests = make();
    const before = await storeOperations();
    await run(requests);
    const after = await storeOperations();
    const perRequest: Record<string, number> = {};
    for (const [operation, n] of after) {
      const delta = n - (before.get(operation) ?? 0);
      if (delta > 0) perRequest[operation] = Math.round((delta / requests.length) * 1000) / 1000;
    }
    results.push({ phase, requests: requests.length, perRequest });
  }
} finally {
  await stopServers([http, tcp]);
  await admin(`DROP DATABASE IF EXISTS ${DATABASE}`);
}

console.log(`store operations per request, cache ${values.cache}, ${userCount} users`);
console.log('| request | requests | on the primary | on a replica |');
console.log('|---|---|---|---|');
for (const { phase, requests, perRequest } of results) {
  const side = (tolerant: boolean) =>
    Object.entries(perRequest)
      .filter(([operation]) => TOLERANT.has(operation) === tolerant)
      .map(([operation, n]) => `${operation} ${n}`)
      .join(', ') || '0';
  console.log(`| ${phase} | ${requests} | ${side(false)} | ${side(true)} |`);
}
console.log(JSON.stringify({ cache: values.cache, users: userCount, results }));
