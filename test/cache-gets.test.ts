/**
 * The Redis adapter's batches on a single Redis: the GETs made together go
 * out as one MGET, the eval()s of one manyKeys script made together as one
 * script call; each caller gets its own key's answer, program order holds
 * against the other commands, and a failure reaches every caller of the
 * batch. A private redis-server, so that its command counts are ours alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import type { Cache, CacheScript } from '../src/cache/port.ts';
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

/** Per key: answers the length held before, then sets the key to its argument (a manyKeys script). */
const SWAP: CacheScript = {
  name: 'testSwap',
  manyKeys: true,
  lua: `local before = {}
for i = 1, #KEYS do
  before[i] = redis.call('STRLEN', KEYS[i])
  redis.call('SET', KEYS[i], ARGV[i])
end
return before`,
};

beforeAll(async () => {
  redis = await startPrivateRedis();
  admin = new Redis(redis.url, { keyPrefix: prefix });
  cache = createRedisCache(
    {
      url: redis.url,
      clusterNodes: [],
      keyPrefix: prefix,
      commandTimeoutMs: 1000,
      scripts: [SWAP],
    },
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

/** Script calls Redis has answered so far (EVALSHA, or EVAL the first time). */
async function scriptCalls(): Promise<number> {
  return (await calls('evalsha')) + (await calls('eval'));
}

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

describe('integration: Redis cache evals of a manyKeys script', () => {
  it('should run the evals made together as one script call, each answered for its own key', async () => {
    await admin.set('s1', 'xx');
    await admin.set('s3', 'xxxx');
    await cache.eval(SWAP, 'warm-script', ['loaded']); // the first call may be EVALSHA then EVAL
    const before = await scriptCalls();
    const answers = await Promise.all(
      ['s1', 's2', 's3'].map((key) => cache.eval(SWAP, key, [`${key}!`])),
    );
    expect(answers).toEqual([[2], [0], [4]]);
    expect(await scriptCalls()).toBe(before + 1);
    expect(await admin.mget('s1', 's2', 's3')).toEqual(['s1!', 's2!', 's3!']);
  });

  it('should keep program order with GETs and other commands around a batch', async () => {
    await admin.set('p', 'old');
    const getBefore = cache.get('p');
    const swap = cache.eval(SWAP, 'p', ['swapped']);
    const getAfter = cache.get('p');
    const set = cache.set('p', 'set after', 60_000);
    const swapAgain = cache.eval(SWAP, 'p', ['last']);
    expect(text(await getBefore)).toBe('old');
    expect(await swap).toEqual([3]);
    expect(text(await getAfter)).toBe('swapped');
    expect(await set).toBe(true);
    expect(await swapAgain).toEqual([9]);
    expect(await admin.get('p')).toBe('last');
  });

  it('should fail every eval of a batch when Redis does not answer', async () => {
    redis.pause();
    try {
      const results = await Promise.allSettled(
        ['f1', 'f2', 'f3'].map((key) => cache.eval(SWAP, key, ['x'])),
      );
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    } finally {
      redis.resume();
    }
  });
});
