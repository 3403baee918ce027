/**
 * The one fixture factory: starts the real stack (TCP server, then HTTP server
 * with its pool pointed at it) on port 0, in this process, and stops it.
 * Every integration test builds on it.
 *
 * Defaults keep tests fast and independent: an embedded SQLite file in a
 * temporary DATA_DIR, no cache, and cheap argon2id parameters (still
 * argon2id through Bun.password; tests about cost set their own).
 * `store: 'mysql'` creates a fresh MariaDB database, dropped at stop();
 * `redis: true` uses the shared Redis with a key prefix of the stack's own,
 * or pass a URL (a private redis-server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHttpConfig } from '../src/config/http-config.ts';
import { loadTcpConfig, type TcpConfig } from '../src/config/tcp-config.ts';
import type { Env } from '../src/config/variable.ts';
import { type HttpApp, startHttpApp } from '../src/http/start.ts';
import { type Logger, silentLogger } from '../src/log.ts';
import { startTcpApp, type TcpApp } from '../src/tcp/start.ts';
import { createTestDatabase } from './support/mysql.ts';
import { requireRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis.ts';

export interface Stack {
  /** Base URL of the HTTP server, with a trailing slash. */
  url: string;
  /** The HTTP server's /metrics (HTTP_METRICS_PORT). */
  metricsUrl: string;
  tcpPort: number;
  tcp: TcpApp;
  http: HttpApp;
  /** The TCP server's configuration (store, cache, secrets). */
  config: TcpConfig;
  /** fetch() relative to the stack's URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stops the TCP server and starts it again on the same port, with the same data; waits until ready. */
  restartTcp(): Promise<void>;
  /** Resolves when /readyz answers 200 (the pool reaches the TCP server). */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra environment, as the servers would read it. */
  env?: Env;
  log?: Logger;
  store?: 'sqlite' | 'mysql';
  /** true: the shared test Redis; a string: that Redis URL; false: no cache. */
  redis?: boolean | string;
}

const FAST_ARGON2: Env = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? silentLogger;
  const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-test-'));
  const database = options.store === 'mysql' ? await createTestDatabase() : null;
  const redisUrl =
    options.redis === true ? await requireRedis(TEST_REDIS_URL) : options.redis || '';
  const base: Env = {
    LOG_LEVEL: 'silent',
    TCP_METRICS_PORT: '0',
    HTTP_METRICS_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
    DATA_DIR: dataDir,
    MYSQL_URL: database?.url ?? '',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: uniquePrefix(),
    ...FAST_ARGON2,
    // Every test client is 127.0.0.1: the per-address limits (the budget, and the share of
    // the hash queue) would throttle the suite itself. Tests of them set their own values.
    RATE_LIMIT_IP_PER_S: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    HASH_QUEUE_PER_ADDRESS: '100000',
    ...options.env,
  };
  let config = loadTcpConfig({ ...base, TCP_PORT: '0' });
  let tcp = await startTcpApp(config, log);
  const tcpPort = tcp.server.port;
  config = loadTcpConfig({ ...base, TCP_PORT: String(tcpPort) });
  const http = startHttpApp(
    loadHttpConfig({ ...base, HTTP_PORT: '0', TCP_ADDRS: `127.0.0.1:${tcpPort}` }),
    log,
  );

  const stack: Stack = {
    url: http.url,
    metricsUrl: http.metricsUrl ?? '',
    tcpPort,
    tcp,
    http,
    config,
    fetch: (path, init) => fetch(new URL(path, http.url), init),
    async restartTcp() {
      await tcp.stop();
      tcp = await startTcpApp(config, log);
      stack.tcp = tcp;
      await stack.ready();
    },
    async ready(timeoutMs = 5000) {
      const until = performance.now() + timeoutMs;
      while ((await stack.fetch('/readyz')).status !== 200) {
        if (performance.now() > until) throw new Error('the stack did not become ready');
        await Bun.sleep(10);
      }
    },
    async stop() {
      await http.stop();
      await tcp.stop();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** JSON request helpers for the API. */
export function jsonInit(method: string, body: unknown, token?: string): RequestInit {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return { method, headers, body: JSON.stringify(body) };
}

export function bearer(token: string, method = 'GET'): RequestInit {
  return { method, headers: { authorization: `Bearer ${token}` } };
}

/**
 * A password the server accepts (strong enough for the estimator): tests that
 * are not about password rules use this one.
 */
export const PASSWORD = 'a long password';

/** Signs `username` up (if new) and logs in: the session token. */
export async function signUp(stack: Stack, username: string, password = PASSWORD): Promise<string> {
  await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
  const res = await stack.fetch(
    '/open_api/v1/authenticate',
    jsonInit('POST', { username, password }),
  );
  if (res.status !== 200) throw new Error(`logging ${username} in answered ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/** Whether `check` comes true within `timeoutMs`, asked every 50 ms. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return true;
    await Bun.sleep(50);
  }
  return false;
}
