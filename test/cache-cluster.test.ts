/** The cache adapter over a real 3-node Redis Cluster. */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { Cache } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { silentLogger } from '../src/log.ts';
import { type RedisCluster, startRedisCluster } from './support/redis-cluster.ts';

let cluster: RedisCluster;
let cache: Cache;
beforeAll(async () => {
  cluster = await startRedisCluster();
  cache = createRedisCache(
    { url: '', clusterNodes: cluster.nodes, keyPrefix: 't:', commandTimeoutMs: 1000 },
    silentLogger,
  );
});
afterAll(async () => {
  await cache?.close();
  await cluster?.stop();
});

describe('integration: cache on Redis Cluster', () => {
  it('should set, get and delete keys spread over every slot', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `u:user${i}`);
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = await cache.set('probe', 'x', 1000).catch(() => false);
      if (!ready) await Bun.sleep(50);
    }
    expect(ready).toBe(true);
    await Promise.all(keys.map((k, i) => cache.set(k, new Uint8Array([i]), 60_000)));
    const values = await Promise.all(keys.map((k) => cache.get(k)));
    expect(values.map((v) => v?.[0])).toEqual(keys.map((_, i) => i));
    expect(await cache.set(keys[0] as string, 'other', 60_000, true)).toBe(false);
    await cache.del(keys);
    expect((await Promise.all(keys.map((k) => cache.get(k)))).every((v) => v === null)).toBe(true);
  });
});
