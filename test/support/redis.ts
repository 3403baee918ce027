/**
 * Redis for tests. The shared server (TEST_REDIS_URL, default
 * redis://127.0.0.1:6379) is used with a key prefix of its own per stack, so
 * tests never see or delete each other's keys. Tests that stop, kill or pause
 * Redis start a private redis-server instead, on a free port.
 */
import { readFileSync } from 'node:fs';
import type { Subprocess } from 'bun';
import Redis, { type Cluster } from 'ioredis';
import type { Cache } from '../../src/cache/port.ts';
import { SHARDS, sentinelKey } from '../../src/core/revocations.ts';
import type { Guard } from './orphans.ts';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const HOW_TO_START =
  'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

/** Fails (never skips) when the shared Redis is not there, saying how to start it. */
export async function requireRedis(url = TEST_REDIS_URL): Promise<string> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return url;
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${url} (${(err as Error).message}): ${HOW_TO_START}`,
    );
  } finally {
    client.disconnect();
  }
}

/** How many shards of the revoked-session mirror under `prefix` say "loaded". */
export async function loadedShards(client: Redis | Cluster, prefix: string): Promise<number> {
  const values = await Promise.all(
    Array.from({ length: SHARDS }, (_, n) => client.get(`${prefix}${sentinelKey(n)}`)),
  );
  return values.filter((value) => value === '1').length;
}

/**
 * Waits until `cache` answers a GET (it queues nothing while it connects,
 * so commands fail until then); throws after `timeoutMs`.
 */
export async function cacheAnswering(cache: Cache, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (
    !(await cache.get('warm').then(
      () => true,
      () => false,
    ))
  ) {
    if (performance.now() > until) throw new Error(`the cache did not answer in ${timeoutMs} ms`);
    await Bun.sleep(10);
  }
}

/** A key prefix no other test run uses. */
export function uniquePrefix(): string {
  return `test:${crypto.randomUUID().slice(0, 8)}:`;
}

/**
 * A port free now, for a server a test starts later. Drawn below the
 * kernel's range for outgoing connections' own ports: a port the kernel
 * gave out (port 0) could be taken by any outgoing connection (to MariaDB,
 * Redis) before the server binds it, and was, failing a test now and then.
 */
const given = new Set<number>();

export async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const below = Math.min(low ?? 32_768, 32_768);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    // Not one this process gave out already: its server may not have bound it yet.
    if (given.has(port)) continue;
    given.add(port);
    try {
      const listener = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } });
      listener.stop(true);
      return port;
    } catch {
      // Taken: draw again.
    }
  }
  throw new Error(`no free port found between 10000 and ${below}`);
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** A client for looking inside (no prefix). */
  client(): Redis;
  kill(): Promise<void>;
  start(): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/**
 * A redis-server of this test's own, which it may kill, restart and pause.
 * With a `guard`, it also dies when the test process dies.
 */
export async function startPrivateRedis(guard?: Guard): Promise<PrivateRedis> {
  if (Bun.which('redis-server') === null)
    throw new Error(`redis-server is not installed: apt-get install -y redis-server`);
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: Subprocess | null = null;
  const clients: Redis[] = [];

  async function start(): Promise<void> {
    proc = Bun.spawn(
      [
        'redis-server',
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      {
        stdout: 'ignore',
        stderr: 'ignore',
      },
    );
    guard?.track(proc.pid);
    const until = performance.now() + 5000;
    while (performance.now() < until) {
      try {
        await requireRedis(url);
        return;
      } catch {
        await Bun.sleep(20);
      }
    }
    throw new Error(`private redis-server on port ${port} did not start`);
  }

  async function kill(): Promise<void> {
    if (proc === null) return;
    const running = proc;
    proc = null;
    running.kill('SIGKILL');
    await running.exited;
    guard?.untrack(running.pid);
  }

  await start();
  return {
    url,
    port,
    client() {
      const c = new Redis(url, { maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    kill,
    start,
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    async stop() {
      for (const c of clients) c.disconnect();
      proc?.kill('SIGCONT');
      await kill();
    },
  };
}
