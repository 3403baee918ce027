/**
 * Nickname updates written through to a real Redis, over MariaDB and over the
 * embedded SQLite store: the write-through script's version compare, and
 * racing updates from two servers (two CachedUsers over one store and one
 * cache) that must leave the cache at the stored row or a tombstone, never
 * at an older row.
 */

import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import type { Cache } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { CachedUsers, USER_SCRIPTS } from '../src/core/cached-users.ts';
import { decode, encode } from '../src/core/user-record.ts';
import { Deadline } from '../src/lib/deadline.ts';
import { Semaphore } from '../src/lib/semaphore.ts';
import { silentLogger } from '../src/log.ts';
import { openStore } from '../src/store/open.ts';
import type { UserRow, UserStore } from '../src/store/port.ts';
import { newUser } from './store/contract.ts';
import { createTestDatabase, type TestDatabase } from './support/mysql.ts';
import { requireRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis.ts';
import { temporarySqliteStore } from './support/sqlite-store.ts';

const prefix = uniquePrefix();
const TOMBSTONE = [0, 1];
let cache: Cache;
let client: Redis;

beforeAll(async () => {
  await requireRedis();
  client = new Redis(TEST_REDIS_URL);
  cache = createRedisCache(
    {
      url: TEST_REDIS_URL,
      clusterNodes: [],
      keyPrefix: prefix,
      commandTimeoutMs: 1000,
      scripts: USER_SCRIPTS,
    },
    silentLogger,
  );
  // Commands fail fast until the client has connected (no offline queue).
  for (let tries = 0; ; tries++) {
    try {
      await cache.get('ready');
      break;
    } catch (error) {
      if (tries > 100) throw error;
      await Bun.sleep(20);
    }
  }
});
afterAll(async () => {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
  client?.disconnect();
  await cache?.close();
});

const script = USER_SCRIPTS[0] as (typeof USER_SCRIPTS)[number];
const at = (version: number, nickname = `v${version}`): UserRow => ({
  ...newUser({ id: '7', username: 'ruth', nickname }),
  createdAtMs: 1,
  updatedAtMs: 1,
  passwordHash: 'h',
  version,
});

async function cached(key: string): Promise<number[] | UserRow | null> {
  const value = await client.getBuffer(`${prefix}${key}`);
  if (value === null) return null;
  return value[0] === 0 ? [...value] : decode(value);
}

function writeThrough(key: string, row: UserRow): Promise<number[]> {
  return cache.eval(script, key, [row.version, encode(row), 60_000]);
}

describe('integration: the write-through script on Redis', () => {
  it('should set a row where there is none or an older one, never over an equal or newer one', async () => {
    expect(await writeThrough('u:a', at(3))).toEqual([1]);
    expect(await cached('u:a')).toEqual(at(3));
    expect(await writeThrough('u:a', at(2))).toEqual([0]); // stale: loses
    expect(await writeThrough('u:a', at(3, 'other'))).toEqual([0]);
    expect(await cached('u:a')).toEqual(at(3));
    expect(await writeThrough('u:a', at(12))).toEqual([1]); // 12 > 3 as numbers, not as text
    expect(await cached('u:a')).toEqual(at(12));
    expect(await writeThrough('u:a', at(9))).toEqual([0]);
  });

  it('should leave tombstones and "no such user" in place', async () => {
    await client.set(`${prefix}u:b`, Buffer.from(TOMBSTONE));
    expect(await writeThrough('u:b', at(1))).toEqual([0]);
    expect(await cached('u:b')).toEqual(TOMBSTONE);
    await client.set(`${prefix}u:c`, Buffer.from([0]));
    expect(await writeThrough('u:c', at(1))).toEqual([0]);
    expect(await cached('u:c')).toEqual([0]);
  });

  it('should take a record cached before versions as version 0', async () => {
    const legacy = encode(at(0)).subarray(3); // the record without its `v0:`
    await client.set(`${prefix}u:d`, legacy);
    expect(await cached('u:d')).toEqual(at(0));
    expect(await writeThrough('u:d', at(0))).toEqual([0]);
    expect(await writeThrough('u:d', at(1))).toEqual([1]);
    expect(await cached('u:d')).toEqual(at(1));
  });

  it('should decide each key of one turn alone, in the order of the calls', async () => {
    await writeThrough('u:older', at(1));
    await writeThrough('u:newer', at(9));
    await client.set(`${prefix}u:gone`, Buffer.from(TOMBSTONE));
    await client.set(`${prefix}u:none`, Buffer.from([0]));
    // Made together: one script call on a single Redis (test/cache-gets.test.ts).
    const answers = await Promise.all([
      writeThrough('u:fresh', at(5)),
      writeThrough('u:older', at(5)),
      writeThrough('u:newer', at(5)),
      writeThrough('u:gone', at(5)),
      writeThrough('u:none', at(5)),
      writeThrough('u:twice', at(7)),
      writeThrough('u:twice', at(6)), // after 7 in the same call: stale
      writeThrough('u:twice', at(8)),
    ]);
    expect(answers).toEqual([[1], [1], [0], [0], [0], [1], [0], [1]]);
    expect(await cached('u:fresh')).toEqual(at(5));
    expect(await cached('u:older')).toEqual(at(5));
    expect(await cached('u:newer')).toEqual(at(9));
    expect(await cached('u:gone')).toEqual(TOMBSTONE);
    expect(await cached('u:none')).toEqual([0]);
    expect(await cached('u:twice')).toEqual(at(8));
  });

  it('should set its time to live', async () => {
    await writeThrough('u:e', at(1));
    const ttl = await client.pttl(`${prefix}u:e`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});

function describeEngine(engine: 'mysql' | 'sqlite') {
  describe(`integration: nickname updates written through (${engine} store, Redis)`, () => {
    let store: UserStore;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      if (engine === 'sqlite') {
        ({ store, dispose } = await temporarySqliteStore());
        return;
      }
      const database: TestDatabase = await createTestDatabase();
      const options = {
        poolSize: 8,
        queueLimit: 1000,
        queueTimeoutMs: 2000,
        queryTimeoutMs: 5000,
        connectTimeoutMs: 2000,
      };
      store = await openStore(
        { mysqlUrl: database.url, dataDir: '/nonexistent', mysql: options },
        silentLogger,
      );
      dispose = async () => {
        await store.close();
        await database.drop();
      };
    });
    afterAll(async () => {
      await dispose?.();
    });

    /** One server's view: its own CachedUsers (flights, chains) over the shared store and cache. */
    const server = () =>
      new CachedUsers(
        store,
        cache,
        new Semaphore(4, 4),
        { ttlMs: 60_000, negativeTtlMs: 1000, tombstoneMs: 5000 },
        silentLogger,
      );
    const soon = () => Deadline.after(2000);

    it('should answer the next lookup from the cache with the stored row', async () => {
      const user = newUser({ username: `${engine}${crypto.randomUUID().slice(0, 8)}` });
      expect(await store.create(user)).toBe('created');
      const users = server();
      const seen = (await users.find(user.username, soon())) as UserRow;
      await Bun.sleep(5); // the fill
      const updated = await users.update(seen, (expected) =>
        store.updateNickname(user.id, 'Ẓoë 🚀', 1000, expected),
      );
      expect(updated).toEqual({ ...user, nickname: 'Ẓoë 🚀', updatedAtMs: 1000, version: 1 });
      expect(await cached(`u:${user.username.toLowerCase()}`)).toEqual(updated as UserRow);
      expect(await store.findById(user.id)).toEqual(updated);
      expect(await server().find(user.username, soon())).toEqual(updated);
    });

    it('should leave the cache at the stored row (or a tombstone) after racing updates from two servers', async () => {
      const user = newUser({ username: `${engine}${crypto.randomUUID().slice(0, 8)}` });
      await store.create(user);
      const [one, two] = [server(), server()];
      const key = `u:${user.username.toLowerCase()}`;
      for (let round = 0; round < 10; round++) {
        // Each server starts from whatever it reads now, as authenticate() would.
        const seen = await Promise.all([one, two].map((s) => s.find(user.username, soon())));
        await Promise.all(
          Array.from({ length: 8 }, (_, k) => {
            const users = k % 2 === 0 ? one : two;
            return users.update(seen[k % 2] as UserRow, (expected) =>
              store.updateNickname(user.id, `r${round}-${k}`, 2000 + round, expected),
            );
          }),
        );
        const stored = (await store.findById(user.id)) as UserRow;
        expect(stored.version).toBe(8 * (round + 1)); // every update applied once
        const entry = await cached(key);
        if (Array.isArray(entry)) expect(entry).toEqual(TOMBSTONE);
        else expect(entry).toEqual(stored);
        await client.del(`${prefix}${key}`); // a fresh start for the next round
      }
    });
  });
}

describeEngine('mysql');
describeEngine('sqlite');
