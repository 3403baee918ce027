/**
 * A fresh Redis under load: the revoked-session mirror is gone (flushed,
 * restarted, or a new key prefix), and every session check finds its
 * sentinel missing at once. Regression: each of those checks asked MariaDB
 * behind the bypass cap, and those beyond it got 503 "cache bypass busy"
 * while the mirror reloaded (712 of 18,600 profile reads in a bench run).
 * Now they wait for the reload, and logged-out tokens stay logged out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import { bearer, type Stack, signUp, startStack } from './fixture.ts';
import { loadedShards, TEST_REDIS_URL } from './support/redis.ts';

let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  // One store read at a time while Redis is bypassed, and 8 waiting: far fewer than the load.
  stack = await startStack({
    store: 'mysql',
    redis: true,
    env: { CACHE_BYPASS_CONCURRENCY: '1' },
  });
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

/** Deletes every key of this stack: Redis as a fresh one would be. */
async function emptyRedis(): Promise<number> {
  const prefix = stack.config.redis.keyPrefix;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

describe('integration: the revoked-session mirror reloading under load', () => {
  it('should answer every check while the mirror reloads: no 503, logged-out tokens still 401', async () => {
    const live: string[] = [];
    const out: string[] = [];
    for (let i = 0; i < 12; i++) {
      const token = await signUp(stack, `reload_user_${i}`);
      if (i % 3 === 0) {
        expect((await stack.fetch('/api/v1/logout', bearer(token, 'POST'))).status).toBe(200);
        out.push(token);
      } else {
        live.push(token);
      }
    }
    const prefix = stack.config.redis.keyPrefix;
    for (let round = 0; round < 3; round++) {
      expect(await emptyRedis()).toBeGreaterThan(0);
      expect(await loadedShards(redis, prefix)).toBe(0);
      const tokens = Array.from({ length: 400 }, (_, i) =>
        i % 4 === 0 ? (out[i % out.length] as string) : (live[i % live.length] as string),
      );
      const statuses = await Promise.all(
        tokens.map(async (token) => (await stack.fetch('/api/v1/me', bearer(token))).status),
      );
      const counts: Record<number, number> = {};
      for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
      expect({ round, counts }).toEqual({ round, counts: { 200: 300, 401: 100 } });
      expect(statuses).toEqual(tokens.map((token) => (out.includes(token) ? 401 : 200)));
      expect(await loadedShards(redis, prefix)).toBeGreaterThan(0);
    }
  });
});
