/**
 * The Redis adapter's GETs on a single Redis: those made together go out as
 * one MGET, each caller gets its own key's value, program order holds
 * against the other commands, and a failure reaches every caller of the
 * batch. A private redis-server, so that its command counts are ours alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import type { Cache } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { silentLogger } from '../src/log.ts';
import {
  cacheAnswering,
  type PrivateRedis,
  startPrivateRedis,
  uniquePrefix,
} from './support/redis.ts';

let redis: PrivateRedis;
let admin: Redis;
let cache: Cache;
const prefix = uniquePrefix();

beforeAll(async () => {
  redis = await startPrivateRedis();
  admin = new Redis(redis.url, { keyPrefix: prefix });
  cache = createRedisCache(
    { url: redis.url, clusterNodes: [], keyPrefix: prefix, commandTimeoutMs: 1000 },
    silentLogger,
  );
  await cacheAnswering(cache);
});
afterAll(async () => {
  await cache?.close();
  admin?.disconnect();
  await redis?.stop();
});

/** Calls of `command` Redis has answered so far (INFO commandstats). */
async function calls(command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match === null ? 0 : Number(match[1]);
}

const text = (value: Uint8Array | null) =>
  value === null ? null : Buffer.from(value).toString('utf8');

describe('integration: Redis cache GETs', () => {
  it('should send the GETs made together as one MGET, each answered with its own key', async () => {
    await admin.set('a', 'one');
    await admin.set('c', 'three');
    const [mgetBefore, getBefore] = [await calls('mget'), await calls('get')];
    const values = await Promise.all(['a', 'b', 'c', 'a'].map((key) => cache.get(key)));
    expect(values.map(text)).toEqual(['one', null, 'three', 'one']);
    expect(await calls('mget')).toBe(mgetBefore + 1);
    expect(await calls('get')).toBe(getBefore);
  });

  it('should keep program order: a GET made before a SET reads what was there before it', async () => {
    await admin.set('order', 'old');
    const before = cache.get('order');
    const set = cache.set('order', 'new', 60_000);
    const after = cache.get('order');
    expect(text(await before)).toBe('old');
    expect(await set).toBe(true);
    expect(text(await after)).toBe('new');
  });

  it('should fail every GET of a batch, quickly, when Redis does not answer, and answer again after', async () => {
    redis.pause();
    try {
      const started = performance.now();
      const results = await Promise.allSettled(['x', 'y', 'z'].map((key) => cache.get(key)));
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      redis.resume();
    }
    const until = performance.now() + 5000;
    let answered = false;
    while (!answered && performance.now() < until) {
      answered = await cache.get('a').then(
        (value) => text(value) === 'one',
        () => false,
      );
      if (!answered) await Bun.sleep(50);
    }
    expect(answered).toBe(true);
  });
});
