/**
 * More than one of each, for real: a 3-node Redis Cluster, two TCP server
 * processes (their own WORKER_IDs, one SESSION_SECRET) on one MariaDB, and
 * an HTTP server whose pool balances over both. Logins and nickname updates
 * run while one TCP server is killed (SIGKILL): no acknowledged write may be
 * lost, and the system must keep serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { jsonInit } from './fixture.ts';
import { createTestDatabase } from './support/mysql.ts';
import { freePort } from './support/redis.ts';
import { type RedisCluster, startRedisCluster } from './support/redis-cluster.ts';

const root = join(import.meta.dir, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-multi-'));
const procs: Subprocess[] = [];
let cluster: RedisCluster;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let tcpPorts: number[] = [];
let base = '';

function start(script: 'tcp' | 'http', env: Record<string, string>): Subprocess {
  const proc = Bun.spawn([process.execPath, join(root, `src/${script}/main.ts`)], {
    env: {
      ...process.env,
      LOG_LEVEL: 'error',
      DATA_DIR: dataDir,
      MYSQL_URL: database.url,
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_KEY_PREFIX: 'multi:',
      SESSION_SECRET: 'multi-instance-test-secret'.padEnd(48, '!'),
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      TCP_METRICS_PORT: '0',
      HTTP_METRICS_PORT: '0',
      POOL_BACKOFF_MAX_MS: '500',
      ...env,
    },
    stdout: 'ignore',
    stderr: 'inherit',
  });
  procs.push(proc);
  return proc;
}

beforeAll(async () => {
  [cluster, database] = await Promise.all([startRedisCluster(), createTestDatabase()]);
  tcpPorts = [await freePort(), await freePort()];
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  start('tcp', { TCP_PORT: String(tcpPorts[0]), WORKER_ID: '1' });
  start('tcp', { TCP_PORT: String(tcpPorts[1]), WORKER_ID: '2' });
  start('http', {
    HTTP_PORT: String(httpPort),
    TCP_ADDRS: tcpPorts.map((p) => `127.0.0.1:${p}`).join(','),
  });
  const until = performance.now() + 20_000;
  // Ready when both TCP servers accept connections and the HTTP server reaches them.
  // (/readyz names no TCP server, so it cannot tell which one answered.)
  const up = new Set<number>();
  while (up.size < 2 || (await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) {
    if (performance.now() > until) throw new Error(`only ${up.size} TCP server(s) accept`);
    for (const port of tcpPorts) if (await accepts(port)) up.add(port);
    await Bun.sleep(50);
  }
}, 60_000);

/** Whether something accepts a TCP connection on 127.0.0.1:`port`. */
async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await cluster?.stop();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

async function call(
  path: string,
  init: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return { status: -1, body: {} };
  }
}

describe('integration: two TCP servers, Redis Cluster, one killed mid-run', () => {
  it('should lose no acknowledged nickname and keep serving when a TCP server dies', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `multi_${i}`);
    for (const username of users) {
      expect(
        (
          await call(
            '/open_api/v1/register',
            jsonInit('POST', { username, password: 'a long password' }),
          )
        ).status,
      ).toBe(200);
    }
    const deadline = performance.now() + 3000;
    const killAt = performance.now() + 1000;
    let killed = false;
    const afterKill: number[] = [];
    const outcome = await Promise.all(
      users.map(async (username) => {
        let lastAcked = '';
        let lastTried = '';
        let n = 0;
        while (performance.now() < deadline) {
          if (!killed && performance.now() > killAt) {
            killed = true;
            procs[0]?.kill('SIGKILL');
          }
          const login = await call(
            '/open_api/v1/authenticate',
            jsonInit('POST', { username, password: 'a long password' }),
          );
          if (killed) afterKill.push(login.status);
          if (login.status !== 200) continue;
          const nickname = `${username} #${n++} 🚀`;
          lastTried = nickname;
          const patch = await call(
            '/api/v1/me',
            jsonInit('PATCH', { nickname }, login.body.token as string),
          );
          if (killed) afterKill.push(patch.status);
          if (patch.status === 200) lastAcked = nickname;
        }
        return { username, lastAcked, lastTried, writes: n };
      }),
    );
    expect(killed).toBe(true);
    expect(await procs[0]?.exited).not.toBe(0);

    // No acknowledged write lost: the stored nickname is the last acknowledged
    // one, or a later attempt whose answer was lost with the dead server.
    for (const { username, lastAcked, lastTried, writes } of outcome) {
      expect(writes).toBeGreaterThan(3);
      const login = await call(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password: 'a long password' }),
      );
      expect(login.status).toBe(200);
      const me = await call('/api/v1/me', {
        headers: { authorization: `Bearer ${login.body.token}` },
      });
      const stored = (me.body.user as { nickname: string }).nickname;
      expect([lastAcked, lastTried]).toContain(stored);
    }

    // Kept serving: after the kill, almost every request succeeded (idempotent
    // calls in flight on the dead server are retried on the other one).
    const ok = afterKill.filter((s) => s === 200).length;
    expect(afterKill.length).toBeGreaterThan(50);
    expect(ok / afterKill.length).toBeGreaterThan(0.98);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
  }, 30_000);
});
