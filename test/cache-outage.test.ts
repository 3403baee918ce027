/**
 * The cache failing under the stack: a private redis-server killed, restarted
 * and paused while requests keep coming. MariaDB is the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { createRedisCache } from '../src/cache/redis.ts';
import { silentLogger } from '../src/log.ts';
import { bearer, eventually, jsonInit, type Stack, signUp, startStack } from './fixture.ts';
import {
  cacheAnswering,
  loadedShards,
  type PrivateRedis,
  startPrivateRedis,
  uniquePrefix,
} from './support/redis.ts';

let redis: PrivateRedis;
let stack: Stack;

beforeAll(async () => {
  redis = await startPrivateRedis();
  stack = await startStack({ store: 'mysql', redis: redis.url });
});
afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

async function status(path: string, init?: RequestInit): Promise<number> {
  return (await stack.fetch(path, init)).status;
}

describe('integration: cache outage', () => {
  it('should serve from MariaDB while Redis is down and use Redis again once it is back', async () => {
    const token = await signUp(stack, 'outage_user');
    const other = await signUp(stack, 'outage_other');
    expect(await status('/api/v1/me', bearer(token))).toBe(200);

    await redis.kill();
    const bypassedBefore = stack.tcp.users.counts.bypassed;
    expect(await status('/api/v1/me', bearer(token))).toBe(200);
    const login = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'outage_user', password: 'a long password' }),
    );
    expect(login.status).toBe(200);
    expect(stack.tcp.users.counts.bypassed).toBeGreaterThan(bypassedBefore);
    // A logout during the outage reaches the store, and the store answers the checks.
    expect(await status('/api/v1/logout', bearer(other, 'POST'))).toBe(200);
    expect(await status('/api/v1/me', bearer(other))).toBe(401);

    await redis.start(); // empty: the revoked-session mirror is gone
    const back = await eventually(async () => {
      const hits = stack.tcp.users.counts.hits;
      await stack.fetch('/api/v1/me', bearer(token));
      await stack.fetch('/api/v1/me', bearer(token));
      return stack.tcp.users.counts.hits > hits;
    }, 5000);
    expect(back).toBe(true);
    // A restarted Redis must not bring the logged-out token back.
    expect(await status('/api/v1/me', bearer(other))).toBe(401);
    const reloaded = await eventually(
      async () => (await loadedShards(redis.client(), stack.config.redis.keyPrefix)) > 0,
      3000,
    );
    expect(reloaded).toBe(true);
    expect(await status('/api/v1/me', bearer(other))).toBe(401);
    expect(await status('/api/v1/me', bearer(token))).toBe(200);
  });

  it('should answer within its deadline while Redis hangs', async () => {
    const token = await signUp(stack, 'paused_user');
    redis.pause();
    try {
      const started = performance.now();
      expect(await status('/api/v1/me', bearer(token))).toBe(200);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      redis.resume();
    }
  });

  // Regression: with auto-pipelining, a command made while an earlier pipeline
  // hung was queued inside ioredis without its timer started, and failed only
  // after the earlier one had timed out and its own timeout had run too.
  it('should fail every command within its timeout while Redis hangs, however it was queued', async () => {
    const timeoutMs = 300;
    const cache = createRedisCache(
      { url: redis.url, clusterNodes: [], keyPrefix: uniquePrefix(), commandTimeoutMs: timeoutMs },
      silentLogger,
    );
    try {
      await cacheAnswering(cache);
      redis.pause();
      const took: Promise<number>[] = [];
      for (let i = 0; i < 8; i++) {
        const started = performance.now();
        took.push(
          cache.get(`k${i}`).then(
            () => -1, // an answer from a stopped Redis would be a bug in the test
            () => performance.now() - started,
          ),
        );
        await Bun.sleep(timeoutMs / 8); // each in its own event-loop turn, so its own pipeline
      }
      const latencies = await Promise.all(took);
      for (const ms of latencies) {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(timeoutMs + 150);
      }
    } finally {
      redis.resume();
      await cache.close();
    }
  });
});

describe('integration: Redis refusing the credentials', () => {
  // A failure audit restarted Redis with a password: the log said "Stream isn't
  // writeable" and never NOAUTH, and at a start its advice was to start Redis.
  it('should say that Redis refused the credentials, amid an outage already told, and when it answers again', async () => {
    const lines: { msg: string; reason?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const cache = createRedisCache(
      { url: redis.url, clusterNodes: [], keyPrefix: uniquePrefix(), commandTimeoutMs: 300 },
      log,
    );
    const admin = redis.client();
    try {
      await cacheAnswering(cache);
      await admin.config('SET', 'requirepass', 'a-password-this-server-lacks');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const told = await eventually(
        async () => lines.some((l) => l.msg.includes("refused this server's credentials")),
        5000,
      );
      expect(told).toBe(true);
      const line = lines.find((l) => l.msg.includes("refused this server's credentials"));
      expect(line?.msg).toContain('put them in REDIS_URL (redis://:<password>@host:port');
      expect(line?.reason).toMatch(/NOAUTH|WRONGPASS/);
      // Once per streak, however often it reconnects meanwhile.
      await Bun.sleep(500);
      expect(lines.filter((l) => l.msg.includes('credentials')).length).toBe(1);
    } finally {
      await admin.config('SET', 'requirepass', '');
    }
    try {
      expect(
        await eventually(async () => lines.some((l) => l.msg === 'cache reachable again'), 5000),
      ).toBe(true);
    } finally {
      await cache.close();
    }
  });
});
