/**
 * The shard reload scripts on a real Redis, and the reload race they close:
 * Redis losing the mirror while a reload runs must not leave a sentinel
 * that says "loaded" over a mirror without the logouts made meanwhile.
 */

import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Cache, CacheScript } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import {
  entryKey,
  REVOCATION_SCRIPTS,
  Revocations,
  sentinelKey,
  shardOf,
} from '../src/core/revocations.ts';
import { Deadline } from '../src/lib/deadline.ts';
import { Semaphore } from '../src/lib/semaphore.ts';
import { silentLogger } from '../src/log.ts';
import { openStore } from '../src/store/open.ts';
import type { UserStore } from '../src/store/port.ts';
import { interruptFirstList } from './support/list-interrupted.ts';
import { requireRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis.ts';

const prefix = uniquePrefix();
const dir = mkdtempSync(join(tmpdir(), 'usermgr-shards-'));
let cache: Cache;
let client: Redis;
let store: UserStore;

beforeAll(async () => {
  await requireRedis();
  client = new Redis(TEST_REDIS_URL);
  cache = createRedisCache(
    {
      url: TEST_REDIS_URL,
      clusterNodes: [],
      keyPrefix: prefix,
      commandTimeoutMs: 1000,
      scripts: REVOCATION_SCRIPTS,
    },
    silentLogger,
  );
  store = await openStore(
    {
      mysqlUrl: '',
      dataDir: dir,
      mysql: {
        poolSize: 1,
        queueLimit: 0,
        queueTimeoutMs: 1,
        queryTimeoutMs: 1,
        connectTimeoutMs: 1,
      },
    },
    silentLogger,
  );
});
afterAll(async () => {
  await emptyPrefix();
  client?.disconnect();
  await cache?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What a flush does to this test's keys. */
async function emptyPrefix(): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

function script(name: string): CacheScript {
  const found = REVOCATION_SCRIPTS.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no script ${name}`);
  return found;
}

function sessionId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
}

const MARKS = `loading,${'x'.repeat(1100)}`;

describe('integration: revoked-session shard reloads on Redis', () => {
  // [sentinel before, script, token, answer, sentinel after]; null: no sentinel.
  const cases: [string | null, string, string, number, string | null][] = [
    [null, 'usermgrReloadBegin', 't1', 1, 'loading,t1'],
    ['1', 'usermgrReloadBegin', 't1', 0, '1'],
    ['loading,t0', 'usermgrReloadBegin', 't1', 1, 'loading,t0,t1'],
    [MARKS, 'usermgrReloadBegin', 't1', 1, 'loading,t1'],
    ['loading,t0,t1', 'usermgrReloadFinish', 't1', 1, '1'],
    ['loading,t0,t1', 'usermgrReloadFinish', 't0', 1, '1'],
    ['loading,t10', 'usermgrReloadFinish', 't1', 0, 'loading,t10'],
    [null, 'usermgrReloadFinish', 't1', 0, null],
    ['1', 'usermgrReloadFinish', 't1', 0, '1'],
  ];
  it.each(cases)(
    'should turn %p with %s(%s) into [%d], %p',
    async (before, name, token, answer, after) => {
      const key = sentinelKey(7);
      await client.del(`${prefix}${key}`);
      if (before !== null) await client.set(`${prefix}${key}`, before, 'PX', 60_000);
      expect(await cache.eval(script(name), key, [token, 60_000])).toEqual([answer]);
      expect(await client.get(`${prefix}${key}`)).toBe(after);
      if (after !== null) expect(await client.pttl(`${prefix}${key}`)).toBeGreaterThan(0);
    },
  );

  /** Regression: the sentinel was written after the flush, over a mirror that had lost the logout. */
  it('should keep refusing a logout made while the mirror reloaded, when Redis was flushed meanwhile', async () => {
    await emptyPrefix();
    // In its shard's first range (shard 3's first ids start with 'D'), which the
    // load reads before the logout: the logout is missing from what it read.
    const late = `D${sessionId().slice(1)}`;
    const other = `D${sessionId().slice(1)}`;
    expect(shardOf(other)).toBe(shardOf(late));
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const { lists, restore } = interruptFirstList(store, async () => {
      await revocations.revoke(late, '1', Date.now() + 60_000, Date.now());
      await emptyPrefix();
    });
    try {
      const deadline = Deadline.after(2000);
      expect(await revocations.isRevoked(other, Date.now(), deadline)).toBe(false);
    } finally {
      restore();
    }
    expect(lists()).toBe(2);
    expect(await client.get(`${prefix}${sentinelKey(shardOf(late))}`)).toBe('1');
    expect(await client.get(`${prefix}${entryKey(late)}`)).toBe('1');
    // Another server, which knows only what Redis and the store say.
    const another = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await another.isRevoked(late, Date.now(), Deadline.after(2000))).toBe(true);
  });
});
