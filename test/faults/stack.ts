/**
 * The stack the fault tests break: a private MariaDB and a private Redis
 * (never the shared ones), the TCP server and the HTTP server as real child
 * processes (so they can be SIGKILLed and SIGTERMed) on fixed free ports, and
 * users seeded straight into the store. Every process is tracked by one
 * orphan guard: nothing outlives the test process.
 *
 * Passwords are hashed with the production argon2id parameters (OWASP
 * m=19456 KiB, t=2): the storm scenario is about their cost, and a restarted
 * TCP server really has to verify every user again (its memo is gone).
 */
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import mysql from 'mysql2/promise';
import { type Guard, guardProcesses } from '../support/orphans.ts';
import { type PrivateMariadb, startPrivateMariadb } from '../support/private-mariadb.ts';
import { freePort, type PrivateRedis, startPrivateRedis } from '../support/redis.ts';
import { type Account, type LoadSpec, type RunningLoad, spawnLoad } from './load-process.ts';

const root = join(import.meta.dir, '..', '..');

const PASSWORD = 'correct horse battery staple';
const ARGON2 = { memoryCost: 19456, timeCost: 2 };

export interface Profile {
  long: boolean;
  /** Open-loop requests per second of the background load. */
  rate: number;
  /** Users that log in and check their session. */
  readers: number;
  /** Users that change their nickname (kept apart: a write empties a user's cache entry). */
  writers: number;
  /** Usernames the storm sends wrong passwords for. */
  victims: number;
  /** `short` in the short form (npm test), `long` under FAULTS_LONG=1. */
  ms(short: number, long: number): number;
}

export function profile(env = process.env): Profile {
  const long = env.FAULTS_LONG === '1';
  return {
    long,
    rate: long ? 600 : 300,
    readers: long ? 400 : 100,
    writers: 20,
    victims: 2000,
    ms: (short, long_) => (long ? long_ : short),
  };
}

type Server = 'tcp' | 'http';

export interface FaultStack {
  base: string;
  mariadb: PrivateMariadb;
  redis: PrivateRedis;
  readers: Account[];
  writers: Account[];
  victims: string[];
  /** The running process of a server, or null. */
  proc(server: Server): Subprocess | null;
  start(server: Server): Promise<void>;
  /** Sends `signal` and waits (bounded) for the exit; returns the exit code, or the signal's name. */
  signal(server: Server, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | string>;
  /** Resolves when the HTTP server answers /readyz 200 (it reaches the TCP server). */
  ready(timeoutMs?: number): Promise<void>;
  /** Logs every reader and writer in once (fills the credential memo and the cache). */
  warm(): Promise<void>;
  /** The sum of every series of a metric of a server, filtered by a label text. */
  metric(server: Server, name: string, label?: string): Promise<number>;
  load(
    spec: Omit<LoadSpec, 'base' | 'password' | 'readers' | 'writers' | 'victims' | 'tag'>,
  ): Promise<RunningLoad>;
  stop(): Promise<void>;
}

/** Waits for `check` to say true; a check that throws (the server exited) ends the wait at once. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return;
    await Bun.sleep(25);
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

async function status(url: string): Promise<number> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );
}

export async function startFaultStack(
  p: Profile,
  extraEnv: Record<string, string> = {},
): Promise<FaultStack> {
  const guard: Guard = guardProcesses('faults');
  let mariadb: PrivateMariadb | null = null;
  let redis: PrivateRedis | null = null;
  const procs: Record<Server, Subprocess | null> = { tcp: null, http: null };
  let launches = 0;
  try {
    [mariadb, redis] = await Promise.all([startPrivateMariadb(), startPrivateRedis(guard)]);
  } catch (err) {
    await redis?.stop();
    await mariadb?.stop();
    guard.release();
    throw err;
  }
  const ports = {
    tcp: await freePort(),
    ops: await freePort(),
    http: await freePort(),
    httpMetrics: await freePort(),
  };
  const base = `http://127.0.0.1:${ports.http}/`;
  const env = {
    ...process.env,
    LOG_LEVEL: 'warn',
    DATA_DIR: join(guard.dir, 'data'),
    MYSQL_URL: mariadb.url,
    REDIS_URL: redis.url,
    REDIS_CLUSTER_NODES: '',
    REDIS_KEY_PREFIX: 'faults:',
    SESSION_SECRET: 'fault-tests-session-secret'.padEnd(48, '!'),
    TCP_PORT: String(ports.tcp),
    TCP_METRICS_PORT: String(ports.ops),
    HTTP_PORT: String(ports.http),
    HTTP_METRICS_PORT: String(ports.httpMetrics),
    TCP_ADDRS: `127.0.0.1:${ports.tcp}`,
    ARGON2_MEMORY_KIB: String(ARGON2.memoryCost),
    ARGON2_TIME_COST: String(ARGON2.timeCost),
    // All load comes from 127.0.0.1: the per-address limits would throttle the test itself.
    RATE_LIMIT_IP_PER_S: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    HASH_QUEUE_PER_ADDRESS: '100000',
    SHUTDOWN_TIMEOUT_MS: '10000',
    ...extraEnv,
  };

  async function start(server: Server): Promise<void> {
    const log = join(guard.dir, `${server}-${++launches}.log`);
    const proc = Bun.spawn([process.execPath, join(root, `src/${server}/main.ts`)], {
      env,
      stdio: ['ignore', Bun.file(log), 'inherit'],
    });
    procs[server] = proc;
    guard.track(proc.pid);
    const url = server === 'tcp' ? `http://127.0.0.1:${ports.ops}/readyz` : `${base}healthz`;
    await waitFor(
      `the ${server} server did not start (log: ${log})`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`the ${server} server exited: see ${log}`);
        return (await status(url)) === 200;
      },
      20_000,
    );
  }

  async function signal(server: Server, sig: 'SIGKILL' | 'SIGTERM'): Promise<number | string> {
    const proc = procs[server];
    if (proc === null) throw new Error(`the ${server} server is not running`);
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const code = await proc.exited;
    clearTimeout(timer);
    guard.untrack(proc.pid);
    procs[server] = null;
    return proc.signalCode ?? code;
  }

  async function ready(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      'the stack did not become ready',
      async () => (await status(`${base}readyz`)) === 200,
      timeoutMs,
    );
  }

  async function login(username: string): Promise<string> {
    const until = performance.now() + 30_000;
    while (performance.now() < until) {
      const res = await fetch(`${base}open_api/v1/authenticate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: PASSWORD }),
      });
      const body = (await res.json()) as { token?: string };
      if (res.status === 200 && body.token) return body.token;
      if (res.status !== 429 && res.status !== 503) {
        throw new Error(`login of ${username}: ${res.status} ${JSON.stringify(body)}`);
      }
      await Bun.sleep(100);
    }
    throw new Error(`login of ${username} kept being refused`);
  }

  const names = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
  const readerNames = names('fault_r', p.readers);
  const writerNames = names('fault_w', p.writers);
  const victims = names('fault_v', p.victims);
  const readers: Account[] = readerNames.map((username) => ({ username, token: '' }));
  const writers: Account[] = writerNames.map((username) => ({ username, token: '' }));

  async function warm(): Promise<void> {
    const accounts = [...readers, ...writers];
    let next = 0;
    // Two at a time: that is how many slow hashes the server runs at once.
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (next < accounts.length) {
          const account = accounts[next++] as Account;
          account.token = await login(account.username);
          const me = await fetch(`${base}api/v1/me`, {
            headers: { authorization: `Bearer ${account.token}` },
          });
          await me.arrayBuffer();
        }
      }),
    );
  }

  async function metric(server: Server, name: string, label?: string): Promise<number> {
    const port = server === 'tcp' ? ports.ops : ports.httpMetrics;
    const url = `http://127.0.0.1:${port}/metrics`;
    const text = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== ' ' && rest[0] !== '{') continue;
      if (label !== undefined && !rest.includes(label)) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  let specs = 0;
  const stack: FaultStack = {
    base,
    mariadb,
    redis,
    readers,
    writers,
    victims,
    proc: (server) => procs[server],
    start,
    signal,
    ready,
    warm,
    metric,
    load(spec) {
      const n = ++specs;
      return spawnLoad(
        {
          ...spec,
          base,
          password: PASSWORD,
          readers,
          writers,
          victims,
          tag: String(n),
        },
        join(guard.dir, `load-${n}.json`),
        (pid) => guard.track(pid),
      );
    },
    async stop() {
      for (const server of ['http', 'tcp'] as const) {
        const proc = procs[server];
        if (proc) {
          proc.kill('SIGKILL');
          await proc.exited;
        }
      }
      await redis?.stop();
      await mariadb?.stop();
      guard.release();
    },
  };

  try {
    await start('tcp'); // applies the migrations
    await seed(mariadb.url, [...readerNames, ...writerNames, ...victims]);
    await start('http');
    await ready();
    await warm();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** Inserts the users straight into the store, all with the same argon2id hash of PASSWORD. */
async function seed(url: string, usernames: string[]): Promise<void> {
  const hash = await Bun.password.hash(PASSWORD, { algorithm: 'argon2id', ...ARGON2 });
  const connection = await mysql.createConnection({ uri: url });
  try {
    const now = Date.now();
    const rows = usernames.map((username, i) => [
      String(1_000_000_000_000n + BigInt(i)),
      username,
      username,
      hash,
      now,
      now,
    ]);
    await connection.query(
      'INSERT INTO users (id, username, nickname, password_hash, created_at, updated_at) VALUES ?',
      [rows],
    );
  } finally {
    await connection.end();
  }
}
