/** The cache adapter over a real 3-node Redis Cluster. */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { Cache } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { USER_SCRIPTS } from '../src/core/cached-users.ts';
import { RATE_LIMIT_SCRIPTS, RateLimits } from '../src/core/rate-limits.ts';
import { SESSION_LIST_SCRIPTS, SessionList } from '../src/core/session-list.ts';
import { decode, encode } from '../src/core/user-record.ts';
import { silentLogger } from '../src/log.ts';
import { type RedisCluster, startRedisCluster } from './support/redis-cluster.ts';
import { temporarySqliteStore } from './support/sqlite-store.ts';

let cluster: RedisCluster;
let cache: Cache;
beforeAll(async () => {
  cluster = await startRedisCluster();
  cache = createRedisCache(
    {
      url: '',
      clusterNodes: cluster.nodes,
      keyPrefix: 't:',
      commandTimeoutMs: 1000,
      scripts: [...RATE_LIMIT_SCRIPTS, ...SESSION_LIST_SCRIPTS, ...USER_SCRIPTS],
    },
    silentLogger,
  );
}, 60_000);
afterAll(async () => {
  await cache?.close();
  await cluster?.stop();
}, 30_000);

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

  it('should run the rate-limit scripts atomically on keys in every slot, many at once', async () => {
    const limits = new RateLimits(
      cache,
      {
        userLimit: 3,
        userWindowMs: 60_000,
        userBaseDelayMs: 60_000,
        ipPerSecond: 1,
        ipBurst: 1000,
      },
      silentLogger,
    );
    const names = Array.from({ length: 30 }, (_, i) => `slot_user_${i}`);
    // Ten parallel attempts per username, all in the same event-loop turns: three admitted each.
    const outcomes = await Promise.all(
      names.flatMap((name) =>
        Array.from({ length: 10 }, () =>
          limits.admitSlowAttempt(name, '').then(
            () => name,
            () => null,
          ),
        ),
      ),
    );
    for (const name of names) expect(outcomes.filter((o) => o === name).length).toBe(3);
    expect(limits.counts.user).toBe(names.length * 7);
    expect((await limits.peekUser(names[0] as string)).untilMs).toBeGreaterThan(Date.now());
  });

  it("should list one batch's logins of users in every slot (regression: a script given its number of keys was routed by that number)", async () => {
    const { store, dispose } = await temporarySqliteStore();
    // No store writes: what the other process lists comes from Redis.
    const unwritten = new Proxy(store, {
      get: (target, name, receiver) =>
        name === 'saveSessions' ? async () => {} : Reflect.get(target, name, receiver),
    });
    const list = new SessionList(unwritten, cache, silentLogger, { flushMs: 60_000 });
    const now = Date.now();
    const users = Array.from({ length: 40 }, (_, i) => String(1000 + i));
    const entries = users.map((userId, i) => ({
      sessionId: `cluster-${String(i).padStart(14, '0')}`,
      userId,
      createdAtMs: now,
      expiresAtMs: now + 60_000,
      persistent: i % 2 === 0,
      address: '198.51.100.7',
      userAgent: 'Mozilla/5.0 Firefox/128.0',
    }));
    try {
      await Promise.all(entries.map((entry) => list.record(entry)));
      await list.flush();
      const other = new SessionList(store, cache, silentLogger, { flushMs: 60_000 });
      for (const entry of entries) expect(await other.list(entry.userId, now)).toEqual([entry]);
      await Promise.all(users.map((userId) => list.forget(userId, now)));
    } finally {
      await list.close();
      await dispose();
    }
  });

  it('should write through users in every slot made together, one key per command', async () => {
    const script = USER_SCRIPTS[0] as (typeof USER_SCRIPTS)[number];
    const row = (i: number, version: number) => ({
      id: String(1000 + i),
      username: `slot${i}`,
      nickname: `v${version}`,
      passwordHash: 'h',
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: 1,
      updatedAtMs: 2,
      totpSecret: '',
      version,
    });
    const users = Array.from({ length: 60 }, (_, i) => i);
    const put = (version: number) =>
      Promise.all(
        users.map((i) =>
          cache.eval(script, `u:slot${i}`, [version, encode(row(i, version)), 60_000]),
        ),
      );
    expect(await put(2)).toEqual(users.map(() => [1]));
    expect(await put(1)).toEqual(users.map(() => [0])); // stale everywhere
    const values = await Promise.all(users.map((i) => cache.get(`u:slot${i}`)));
    expect(values.map((v) => decode(v as Uint8Array))).toEqual(users.map((i) => row(i, 2)));
  });
});
