/**
 * Credential affinity over three TCP servers (issue 18, item 1): how many
 * slow hashes each user costs, the login rate and p99, and what happens when
 * one server is killed, with the pool routing logins by username (`on`) and
 * by load alone as before (`off`: the same pool, calls sent without a key).
 *
 * Each mode starts three fresh TCP server processes (`src/tcp/main.ts`, cold
 * memos) on one MariaDB database of its own, seeded with `--users` users of
 * random names (one argon2id hash with the chosen parameters, shared: each
 * user's verification still costs a full slow hash, since the memo is keyed
 * by the user). A pool in this process logs every user in once per round, in
 * a new random order, `--concurrency` at a time, for `--rounds` rounds; then
 * SIGKILLs the second server and runs two more rounds. Slow hashes are read
 * from each server's `usermgr_hash_total{kind="verify"}` (/metrics).
 *
 *   bun bench/affinity.ts [--users 2000] [--rounds 3] [--concurrency 64]
 *     [--memory-kib 19456] [--time-cost 2] [--modes on,off]
 *
 * MYSQL_URL names the server (default mysql://root@127.0.0.1:3306/); the
 * database `usermgr_bench_affinity_<pid>` is created and dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import { usernameKey } from '../src/http/affinity-key.ts';
import { silentLogger } from '../src/log.ts';
import { createRpcClient } from '../src/rpc/client.ts';
import { Pool } from '../src/rpc/pool.ts';
import { openStore } from '../src/store/open.ts';
import { freePort } from '../test/support/redis.ts';
import { type Server, startServer } from './procs.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    'memory-kib': { type: 'string', default: '19456' },
    'time-cost': { type: 'string', default: '2' },
    modes: { type: 'string', default: 'on,off' },
  },
});
const userCount = Number(values.users);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const memoryKiB = Number(values['memory-kib']);
const timeCost = Number(values['time-cost']);
const modes = (values.modes as string).split(',').map((m) => m.trim());
if (!modes.every((m) => m === 'on' || m === 'off')) throw new Error('--modes: on and/or off');

const PASSWORD = 'a long bench password';
const SERVERS = 3;
const KILLED = 1;
const serverUrl = (process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/').replace(
  /\/[^/]*$/,
  '/',
);
const dbName = `usermgr_bench_affinity_${process.pid}`;
const dbUrl = `${serverUrl}${dbName}`;
const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-bench-affinity-'));

const usernames = Array.from(
  { length: userCount },
  (_, i) => `Aff${i}_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`,
);

/** Creates the database, its tables, and the users. */
async function seed(): Promise<void> {
  const admin = await mysql.createConnection(serverUrl);
  await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  const config = loadTcpConfig({ MYSQL_URL: dbUrl, DATA_DIR: dataDir });
  const store = await openStore(
    { mysqlUrl: config.mysql.url, dataDir: config.dataDir, mysql: config.mysql },
    silentLogger,
  );
  const passwordHash = await Bun.password.hash(PASSWORD, {
    algorithm: 'argon2id',
    memoryCost: memoryKiB,
    timeCost,
  });
  const now = Date.now();
  for (let i = 0; i < userCount; i += 100) {
    await Promise.all(
      usernames.slice(i, i + 100).map((username, k) =>
        store.create({
          id: String(i + k + 1),
          username,
          nickname: '',
          passwordHash,
          picture: '',
          sessionsValidAfterMs: 0,
          createdAtMs: now,
          updatedAtMs: now,
          totpSecret: '',
          version: 0,
        }),
      ),
    );
  }
  await store.close();
}

async function dropDatabase(): Promise<void> {
  const admin = await mysql.createConnection(serverUrl);
  await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
  await admin.end();
}

interface TcpServer {
  server: Server;
  port: number;
  opsPort: number;
  /** The last verify count read from it (kept once it is killed). */
  verifies: number;
  alive: boolean;
}

async function startTcpServers(): Promise<TcpServer[]> {
  const servers: TcpServer[] = [];
  for (let i = 0; i < SERVERS; i++) {
    const [port, opsPort] = [await freePort(), await freePort()];
    const server = startServer(`tcp${i}`, 'src/tcp/main.ts', {
      TCP_PORT: String(port),
      TCP_METRICS_PORT: String(opsPort),
      WORKER_ID: String(i + 1),
      MYSQL_URL: dbUrl,
      REDIS_URL: '',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      SESSION_SECRET: 'the bench secret of the affinity run'.padEnd(48, '!'),
      ARGON2_MEMORY_KIB: String(memoryKiB),
      ARGON2_TIME_COST: String(timeCost),
      HASH_QUEUE: '10000',
      HASH_QUEUE_PER_ADDRESS: '10000',
      RATE_LIMIT_IP_PER_S: '1000000',
      RATE_LIMIT_IP_BURST: '1000000',
    });
    servers.push({ server, port, opsPort, verifies: 0, alive: true });
  }
  const until = performance.now() + 60_000;
  for (const s of servers) {
    while (
      (await fetch(`http://127.0.0.1:${s.opsPort}/readyz`).catch(() => null))?.status !== 200
    ) {
      if (performance.now() > until) throw new Error('a TCP server did not become ready');
      await Bun.sleep(50);
    }
  }
  return servers;
}

/** Reads every live server's count of slow verifications. */
async function readVerifies(servers: TcpServer[]): Promise<number[]> {
  for (const s of servers) {
    if (!s.alive) continue;
    const text = await (await fetch(`http://127.0.0.1:${s.opsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('usermgr_hash_total{') && l.includes('kind="verify"'));
    s.verifies = Number(line?.split(' ').at(-1) ?? Number.NaN);
  }
  return servers.map((s) => s.verifies);
}

interface Round {
  phase: string;
  logins: number;
  failures: number;
  seconds: number;
  rate: number;
  p50_ms: number;
  p99_ms: number;
  /** Slow verifications in this round, all servers, per user. */
  slow_per_user: number;
  per_server: number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function round(
  phase: string,
  servers: TcpServer[],
  login: (username: string) => Promise<unknown>,
): Promise<Round> {
  const order = [...usernames].sort(() => Math.random() - 0.5);
  const before = await readVerifies(servers);
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < order.length) {
        const username = order[next++] as string;
        const t0 = performance.now();
        try {
          await login(username);
          latencies.push(performance.now() - t0);
        } catch {
          failures++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await readVerifies(servers);
  const perServer = after.map((n, i) => n - (before[i] as number));
  latencies.sort((a, b) => a - b);
  return {
    phase,
    logins: order.length,
    failures,
    seconds: Number(seconds.toFixed(2)),
    rate: Math.round(latencies.length / seconds),
    p50_ms: Number(percentile(latencies, 0.5).toFixed(1)),
    p99_ms: Number(percentile(latencies, 0.99).toFixed(1)),
    slow_per_user: Number((perServer.reduce((a, b) => a + b, 0) / userCount).toFixed(3)),
    per_server: perServer,
  };
}

async function runMode(mode: string): Promise<Round[]> {
  const servers = await startTcpServers();
  const pool = new Pool(
    {
      addresses: servers.map((s) => `127.0.0.1:${s.port}`),
      socketsPerAddress: 2,
      maxInFlightPerSocket: 4096,
      maxWaiting: 10_000,
      maxQueuedBytesPerSocket: 32 << 20,
      maxFrameBytes: 8 << 20,
      connectTimeoutMs: 2000,
      backoffBaseMs: 50,
      backoffMaxMs: 1000,
    },
    silentLogger,
  );
  pool.warm();
  while (pool.stats().open < pool.stats().sockets) await Bun.sleep(10);
  const rpc = createRpcClient(pool, 120_000);
  const login = (username: string) =>
    rpc.call(
      'login',
      { username, password: PASSWORD },
      mode === 'on' ? { key: usernameKey(username) } : {},
    );
  const results: Round[] = [];
  try {
    for (let r = 1; r <= rounds; r++) results.push(await round(`round ${r}`, servers, login));
    const killed = servers[KILLED] as TcpServer;
    await readVerifies(servers);
    killed.server.proc.kill('SIGKILL');
    await killed.server.proc.exited;
    killed.alive = false;
    for (let r = 1; r <= 2; r++) results.push(await round(`killed, round ${r}`, servers, login));
  } finally {
    pool.close();
    for (const s of servers) if (s.alive) s.server.proc.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.server.proc.exited));
  }
  return results;
}

const load = (await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ');
console.log(
  `${userCount} users, ${rounds} rounds, ${concurrency} at a time, argon2id m=${memoryKiB} t=${timeCost}; load ${load}`,
);
await seed();
const report: Record<string, Round[]>[] = [];
try {
  for (const mode of modes) {
    const results = await runMode(mode);
    report.push({ [mode]: results });
    console.log(`\naffinity ${mode}`);
    for (const r of results) {
      console.log(
        `  ${r.phase.padEnd(16)} slow/user ${r.slow_per_user.toFixed(3)} (${r.per_server.join(' + ')})  ${String(r.rate).padStart(6)} logins/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  failures ${r.failures}`,
      );
    }
  }
} finally {
  await dropDatabase();
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(
  JSON.stringify({ users: userCount, rounds, concurrency, memoryKiB, timeCost, load, report }),
);
process.exit(0);
