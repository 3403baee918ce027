/**
 * Credential affinity across TCP servers (issue 18, item 1), for real: three
 * TCP servers on one MariaDB and an HTTP server whose pool routes each login
 * by its username (src/rpc/affinity.ts). Each server counts the slow
 * verifications it ran (`Passwords.counts.verify`, usermgr_hash_total).
 * Logged in three times each, every user costs about one slow verification
 * in all, not up to three; when one server stops, only the users it held pay
 * one again, and no login fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHttpConfig } from '../src/config/http-config.ts';
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import type { Env } from '../src/config/variable.ts';
import { type HttpApp, startHttpApp } from '../src/http/start.ts';
import { silentLogger } from '../src/log.ts';
import { startTcpApp, type TcpApp } from '../src/tcp/start.ts';
import { jsonInit, PASSWORD } from './fixture.ts';
import { createTestDatabase, type TestDatabase } from './support/mysql.ts';

const USERS = 300;
const CONCURRENCY = 16;

const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-affinity-'));
let database: TestDatabase;
const tcps: TcpApp[] = [];
let http: HttpApp;
const usernames = Array.from(
  { length: USERS },
  (_, i) => `Aff_${i}_${crypto.randomUUID().slice(0, 8)}`,
);

beforeAll(async () => {
  database = await createTestDatabase();
  const base: Env = {
    LOG_LEVEL: 'silent',
    TCP_METRICS_PORT: '0',
    HTTP_METRICS_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
    DATA_DIR: dataDir,
    MYSQL_URL: database.url,
    REDIS_URL: '',
    SESSION_SECRET: 'affinity-test-secret'.padEnd(48, '!'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    RATE_LIMIT_IP_PER_S: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    HASH_QUEUE_PER_ADDRESS: '100000',
  };
  for (let i = 0; i < 3; i++)
    tcps.push(
      await startTcpApp(
        loadTcpConfig({ ...base, TCP_PORT: '0', WORKER_ID: String(i + 1) }),
        silentLogger,
      ),
    );
  http = startHttpApp(
    loadHttpConfig({
      ...base,
      HTTP_PORT: '0',
      TCP_ADDRS: tcps.map((t) => `127.0.0.1:${t.server.port}`).join(','),
    }),
    silentLogger,
  );
  // Every socket open: logins made while only some servers are reachable go to those.
  const until = performance.now() + 10_000;
  while (http.pool.stats().open < http.pool.stats().sockets) {
    if (performance.now() > until) throw new Error('the pool did not open its sockets');
    await Bun.sleep(10);
  }
}, 60_000);

afterAll(async () => {
  await http?.stop();
  for (const tcp of tcps) await tcp.stop().catch(() => {});
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

/** Slow verifications each server has run so far. */
function verifies(): number[] {
  return tcps.map((t) => t.passwords.counts.verify);
}

function sum(counts: number[]): number {
  return counts.reduce((a, b) => a + b, 0);
}

/** Runs `work` for every username, CONCURRENCY at a time; the statuses, in no order. */
async function forEachUser(
  work: (username: string, index: number) => Promise<number>,
): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < usernames.length) {
        const i = next++;
        statuses.push(await work(usernames[i] as string, i));
      }
    }),
  );
  return statuses;
}

async function login(username: string): Promise<number> {
  // Typed in another case than at sign-up: the same user, so the same server.
  const res = await fetch(
    new URL('/open_api/v1/authenticate', http.url),
    jsonInit('POST', { username: username.toLowerCase(), password: PASSWORD }),
  );
  await res.arrayBuffer();
  return res.status;
}

describe('integration: credential affinity over three TCP servers', () => {
  it('should cost about one slow verification per user, and after a server stops only its share again', async () => {
    const signUps = await forEachUser(async (username) => {
      const res = await fetch(
        new URL('/open_api/v1/register', http.url),
        jsonInit('POST', { username, password: PASSWORD }),
      );
      await res.arrayBuffer();
      return res.status;
    });
    expect(signUps.filter((s) => s !== 200)).toEqual([]);

    const before = verifies();
    for (let round = 0; round < 3; round++)
      expect((await forEachUser(login)).filter((s) => s !== 200)).toEqual([]);
    const perServer = verifies().map((n, i) => n - (before[i] as number));
    // Without affinity a user's three logins reach two or three servers: ~2.1 verifications each.
    expect(sum(perServer)).toBeGreaterThanOrEqual(USERS * 0.95);
    expect(sum(perServer)).toBeLessThanOrEqual(USERS * 1.05);
    // Every server holds a share (rendezvous spreads users evenly).
    for (const n of perServer) expect(n).toBeGreaterThan(USERS / 6);

    // The second server stops in the middle of a round: its users move to the others.
    const stopped = 1;
    const held = perServer[stopped] as number;
    const survivors = tcps.filter((_, i) => i !== stopped);
    const atStop = verifies();
    const round = forEachUser(async (username, i) => {
      if (i === USERS / 4) await (tcps[stopped] as TcpApp).stop();
      return login(username);
    });
    expect((await round).filter((s) => s !== 200)).toEqual([]);
    // A second round: users the stopped server still served while it drained pay now.
    expect((await forEachUser(login)).filter((s) => s !== 200)).toEqual([]);
    const survivorVerifies = () => sum(survivors.map((t) => t.passwords.counts.verify));
    const again = survivorVerifies() - sum(atStop.filter((_, i) => i !== stopped));
    // Only the stopped server's users pay again, about once each.
    expect(again).toBeLessThanOrEqual(held * 1.05);
    expect(again).toBeGreaterThanOrEqual(held * 0.9);

    // And once moved, they stay: another round costs nothing.
    const settled = survivorVerifies();
    expect((await forEachUser(login)).filter((s) => s !== 200)).toEqual([]);
    expect(survivorVerifies() - settled).toBeLessThanOrEqual(USERS * 0.01);
  }, 120_000);
});
