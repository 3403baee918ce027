import { describe, expect, it } from 'bun:test';
import type { Cache, CacheScript } from '../cache/port.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import type { CacheRepair, UserRow, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { CachedUsers, USER_SCRIPTS } from './cached-users.ts';
import { decode, encode } from './user-record.ts';

/** An in-memory cache that can be made to fail, like Redis going away. */
class FakeCache implements Cache {
  readonly data = new Map<string, Uint8Array>();
  down = false;
  /** Answers reads, refuses writes (full under noeviction, a read-only replica). */
  refusesWrites = false;
  private listeners: (() => void)[] = [];
  private check() {
    if (this.down) throw new RpcError(Status.UNAVAILABLE, 'cache unavailable');
  }
  async get(key: string) {
    this.check();
    return this.data.get(key) ?? null;
  }
  async set(key: string, value: Uint8Array | string, _ttlMs: number, ifAbsent = false) {
    this.check();
    if (this.refusesWrites) throw new RpcError(Status.UNAVAILABLE, 'OOM command not allowed');
    if (ifAbsent && this.data.has(key)) return false;
    this.data.set(key, typeof value === 'string' ? new TextEncoder().encode(value) : value);
    return true;
  }
  async del(keys: string[]) {
    this.check();
    for (const k of keys) this.data.delete(k);
  }
  /** The write-through script's rule (its Lua runs against Redis in test/cached-users-redis.test.ts). */
  async eval(script: CacheScript, key: string, args: readonly (string | number | Uint8Array)[]) {
    this.check();
    if (script.name !== USER_SCRIPTS[0]?.name) throw new Error(`no fake of ${script.name}`);
    const [version, value] = args as [number, Uint8Array];
    const current = this.data.get(key);
    if (current !== undefined && (current[0] === 0 || decode(current).version >= version))
      return [0];
    this.data.set(key, value);
    return [1];
  }
  async evalEach(): Promise<number[]> {
    throw new Error('not used by CachedUsers');
  }
  async hashGetAll(): Promise<Map<string, string>> {
    throw new Error('not used by CachedUsers');
  }
  async hashDelete(): Promise<void> {
    throw new Error('not used by CachedUsers');
  }
  onRecover(listener: () => void) {
    this.listeners.push(listener);
  }
  recover() {
    this.down = false;
    for (const l of this.listeners) l();
  }
  async close() {}
}

function row(username: string, nickname = username): UserRow {
  return {
    id: '42',
    username,
    nickname,
    passwordHash: 'h',
    picture: '',
    sessionsValidAfterMs: 7,
    createdAtMs: 1,
    updatedAtMs: 2,
    totpSecret: '',
    version: 0,
  };
}

/** A store holding one user whose reads can be held back, to create races. */
function fakeStore(initial: UserRow | null) {
  let current = initial;
  let gate: Promise<void> | null = null;
  const store = {
    reads: 0,
    set(next: UserRow | null) {
      current = next;
    },
    hold(): () => void {
      let open = () => {};
      gate = new Promise((resolve) => {
        open = resolve;
      });
      return () => {
        gate = null;
        open();
      };
    },
    current(): UserRow | null {
      return current;
    },
    /** A store write as UserStore.updateNickname does it: last writer wins, version + 1. */
    async rename(nickname: string, expected: UserRow | null = null): Promise<UserRow | null> {
      store.writes.push(expected?.version ?? -1);
      if (current === null) return null;
      current = { ...current, nickname, version: current.version + 1 };
      return current;
    },
    writes: [] as number[],
    /** Invalidations the cache missed, kept for other servers (cache-repairs.ts). */
    repairs: [] as CacheRepair[],
    async addCacheRepair(repair: CacheRepair) {
      store.repairs.push(repair);
    },
    async findByUsername(username: string) {
      store.reads++;
      const seen = current;
      if (gate) await gate;
      return seen?.username.toLowerCase() === username.toLowerCase() ? seen : null;
    },
  };
  return store;
}

function setup(
  initial: UserRow | null,
  cache: FakeCache | null = new FakeCache(),
  bypass = new Semaphore(4, 4),
  tombstoneMs = 5000,
) {
  const store = fakeStore(initial);
  const users = new CachedUsers(
    store as unknown as UserStore,
    cache,
    bypass,
    { ttlMs: 60_000, negativeTtlMs: 1000, tombstoneMs },
    silentLogger,
  );
  return { store, users, cache };
}

const soon = () => Deadline.after(1000);

describe('unit: CachedUsers', () => {
  it('should read the store once, then serve the cached record exactly', async () => {
    const { store, users } = setup(row('Alice', '名前 🎉'));
    expect(await users.find('alice', soon())).toEqual(row('Alice', '名前 🎉'));
    await Bun.sleep(1); // the cache write is not awaited by find()
    expect(await users.find('ALICE', soon())).toEqual(row('Alice', '名前 🎉'));
    expect(store.reads).toBe(1);
    expect(users.counts).toMatchObject({ hits: 1, misses: 1 });
  });

  it('should carry the two-step login secret in the cached record (no second read at login)', async () => {
    const withSecond = { ...row('Tess'), totpSecret: '1.0123abcd.sealed-secret' };
    const { store, users } = setup(withSecond);
    expect(await users.find('tess', soon())).toEqual(withSecond);
    await Bun.sleep(1);
    expect(await users.find('tess', soon())).toEqual(withSecond);
    expect(store.reads).toBe(1);
  });

  it('should cache "no such user" too', async () => {
    const { store, users } = setup(null);
    expect(await users.find('ghost', soon())).toBeNull();
    await Bun.sleep(1);
    expect(await users.find('ghost', soon())).toBeNull();
    expect(store.reads).toBe(1);
  });

  it('should coalesce concurrent lookups of one username into one store read', async () => {
    const { store, users } = setup(row('bob'));
    const release = store.hold();
    const lookups = Array.from({ length: 100 }, () => users.find('bob', soon()));
    release();
    expect((await Promise.all(lookups)).every((u) => u?.username === 'bob')).toBe(true);
    expect(store.reads).toBe(1);
  });

  it('should never put back a row read before a write that invalidated it', async () => {
    const { store, users } = setup(row('carol', 'old'));
    const release = store.hold();
    const racing = users.find('carol', soon()); // reads 'old', held back
    await Bun.sleep(1);
    store.set(row('carol', 'new')); // the write...
    await users.invalidate('carol'); // ...and its invalidation
    const after = users.find('carol', soon()); // must not join the old flight
    release();
    expect((await racing)?.nickname).toBe('old');
    expect((await after)?.nickname).toBe('new');
    await Bun.sleep(1);
    expect((await users.find('carol', soon()))?.nickname).toBe('new');
  });

  it('should leave no old row in the cache while a write runs, should its process stop before the end', async () => {
    const { store, users } = setup(row('dora', 'old'));
    await users.find('dora', soon());
    await Bun.sleep(1);
    const seenDuring: (string | undefined)[] = [];
    await users.writing('dora', async () => {
      store.set(row('dora', 'new')); // the store write commits...
      // ...and the process stops here (no invalidation after it): what do others read?
      seenDuring.push((await users.find('dora', soon()))?.nickname);
      return null;
    });
    expect(seenDuring).toEqual(['new']);
    expect(store.reads).toBe(2);
  });

  it('should read the store behind the bypass cap while the cache is down, and refuse beyond it', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('dave'), cache, new Semaphore(1, 0));
    cache.down = true;
    const release = store.hold();
    const first = users.find('dave', soon());
    await Bun.sleep(1);
    // The one permit is taken and nothing may wait: refused at once.
    await expect(users.find('dave2', soon())).rejects.toMatchObject({ code: Status.UNAVAILABLE });
    release();
    expect((await first)?.username).toBe('dave');
    expect(users.counts.bypassed).toBe(2);
  });

  it('should write invalidations missed during an outage when the cache recovers', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('erin', 'old'), cache);
    await users.find('erin', soon());
    await Bun.sleep(1);
    cache.down = true;
    store.set(row('erin', 'new'));
    await users.invalidate('erin'); // cannot reach the cache
    cache.recover();
    await Bun.sleep(1);
    expect((await users.find('erin', soon()))?.nickname).toBe('new');
  });

  it('should keep every invalidation the cache missed in the store before it returns', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('iris', 'old'), cache);
    cache.down = true;
    const before = Date.now();
    await users.invalidate('Iris');
    // Again while pending here: another server may have written and deleted the first.
    await users.invalidate('iris');
    expect(store.repairs.map((r) => [r.kind, r.item])).toEqual([
      ['user', 'iris'],
      ['user', 'iris'],
    ]);
    // Kept as long as an entry cached before the change may live (ttlMs and its jitter).
    expect(store.repairs[0]?.expiresAtMs).toBeGreaterThanOrEqual(before + 66_000);
  });

  it('should stop reading the store for a user once a repair or a later invalidation reached the cache', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('kim', 'old'), cache);
    cache.down = true;
    store.set(row('kim', 'new'));
    await users.invalidate('kim');
    // Redis answers this server's repair runner, not yet its own recovery.
    cache.down = false;
    await users.repairEntry('kim', Date.now() + 60_000);
    // Later, the tombstone gone, the new row is cached: it is served from there again.
    cache.data.set('u:kim', encode(row('kim', 'new')));
    const reads = store.reads;
    expect((await users.find('kim', soon()))?.nickname).toBe('new');
    expect(store.reads).toBe(reads);
  });

  it('should read the store for a user whose repair Redis refused, until it is written or stops mattering', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('lee', 'old'), cache);
    expect((await users.find('lee', soon()))?.nickname).toBe('old'); // cached
    store.set(row('lee', 'new'));
    cache.refusesWrites = true;
    // Another server's change, kept in the store: this server's repair run is refused.
    await expect(users.repairEntry('lee', Date.now() + 200)).rejects.toThrow();
    expect((await users.find('lee', soon()))?.nickname).toBe('new');
    const reads = store.reads;
    // Once the repair no longer matters (the cached row it guards against expired),
    // the user is read from the cache again, not from the store for ever (a review).
    await Bun.sleep(250);
    cache.data.set('u:lee', encode(row('lee', 'newest')));
    expect((await users.find('lee', soon()))?.nickname).toBe('newest');
    expect(store.reads).toBe(reads);
  });

  it('should read the store for a user whose invalidation is pending, even once the cache answers again', async () => {
    const cache = new FakeCache();
    const { store, users } = setup(row('jude', 'old'), cache);
    await users.find('jude', soon());
    await Bun.sleep(1);
    cache.down = true;
    store.set(row('jude', 'new'));
    await users.invalidate('jude');
    // Redis answers again, but the recovery has not run yet: the old entry is still there.
    cache.down = false;
    expect((await users.find('jude', soon()))?.nickname).toBe('new');
  });

  it('should work without a cache, still coalescing', async () => {
    const { store, users } = setup(row('frank'), null);
    const release = store.hold();
    const both = Promise.all([users.find('frank', soon()), users.find('frank', soon())]);
    release();
    await both;
    expect(store.reads).toBe(1);
  });

  describe('update (write-through)', () => {
    it('should put the written row in the cache, so the next lookup is a hit with its version', async () => {
      const { store, users } = setup(row('gina', 'old'));
      const seen = (await users.find('gina', soon())) as UserRow;
      const updated = await users.update(seen, (expected) => store.rename('new', expected));
      expect(updated).toEqual({ ...row('gina', 'new'), version: 1 });
      expect(await users.find('gina', soon())).toEqual(updated);
      expect(store.reads).toBe(1);
    });

    it('should never let a fill that read the store before the write put the old row back', async () => {
      const { store, users } = setup(row('hal', 'old'));
      const release = store.hold();
      const racing = users.find('hal', soon()); // reads 'old' (version 0), held back
      await Bun.sleep(1);
      await users.update(row('hal', 'old'), (expected) => store.rename('new', expected));
      release();
      expect((await racing)?.nickname).toBe('old');
      await Bun.sleep(1); // its SET NX ran, and lost
      expect(await users.find('hal', soon())).toMatchObject({ nickname: 'new', version: 1 });
      expect(store.reads).toBe(1);
    });

    it('should replace an older cached row, but never a newer one nor a tombstone', async () => {
      const cache = new FakeCache();
      const { store, users } = setup(row('ivy', 'v0'), cache);
      await users.find('ivy', soon()); // version 0 cached
      await Bun.sleep(1);
      await users.update(row('ivy'), (expected) => store.rename('v1', expected));
      expect(decode(cache.data.get('u:ivy') as Uint8Array).nickname).toBe('v1');
      // A newer row got there first (another server): this older one must not win.
      cache.data.set('u:ivy', encode({ ...row('ivy', 'v9'), version: 9 }));
      await users.update(row('ivy'), async () => ({ ...row('ivy', 'v2'), version: 2 }));
      expect(decode(cache.data.get('u:ivy') as Uint8Array)).toMatchObject({ nickname: 'v9' });
      // Another kind of write tombstoned it: the tombstone stays until it expires.
      await users.invalidate('ivy');
      await users.update(row('ivy'), async () => ({ ...row('ivy', 'v10'), version: 10 }));
      expect([...(cache.data.get('u:ivy') as Uint8Array)]).toEqual([0, 1]);
    });

    it('should hand each update of one user the row the previous one wrote', async () => {
      const { store, users } = setup(row('jay'));
      const seen = row('jay');
      const done = await Promise.all(
        ['a', 'b', 'c'].map((n) => users.update(seen, (expected) => store.rename(n, expected))),
      );
      expect(store.writes).toEqual([0, 1, 2]); // each guarded by the version the last one wrote
      expect(done.map((u) => u?.version)).toEqual([1, 2, 3]);
      expect(await users.find('jay', soon())).toEqual(store.current() as UserRow);
    });

    it('should hand an update that read the cache before the previous write landed the row it wrote', async () => {
      const { store, users } = setup(row('max'));
      const staleSeen = row('max'); // read from the cache before the first update wrote
      await users.update(row('max'), (expected) => store.rename('first', expected));
      await users.update(staleSeen, (expected) => store.rename('second', expected));
      expect(store.writes).toEqual([0, 1]); // the second guarded by version 1, not the stale 0
    });

    it('should tombstone instead when the write took more than half a tombstone', async () => {
      const cache = new FakeCache();
      const { store, users } = setup(row('kim'), cache, new Semaphore(4, 4), 20);
      await users.update(row('kim'), async (expected) => {
        await Bun.sleep(15);
        return store.rename('slow', expected);
      });
      expect([...(cache.data.get('u:kim') as Uint8Array)]).toEqual([0, 1]);
    });

    it('should remember every user of a turn whose write-throughs failed together, and tombstone each on recovery', async () => {
      const cache = new FakeCache();
      const { users } = setup(null, cache);
      cache.down = true; // on one Redis, the turn's write-throughs are one call: it fails for all
      const names = ['ann', 'bo', 'cy'];
      const written = await Promise.all(
        names.map((name, i) =>
          users.update({ ...row(name), id: String(i) }, async (expected) => ({
            ...expected,
            version: 1,
          })),
        ),
      );
      expect(written.map((user) => user?.version)).toEqual([1, 1, 1]);
      cache.recover();
      await Bun.sleep(1);
      for (const name of names)
        expect([...(cache.data.get(`u:${name}`) as Uint8Array)]).toEqual([0, 1]);
    });

    it('should tombstone when the write fails or finds no user, and remember it while the cache is down', async () => {
      const cache = new FakeCache();
      const { store, users } = setup(row('lee', 'old'), cache);
      await users.find('lee', soon());
      await Bun.sleep(1);
      const failing = users.update(row('lee'), async () => {
        throw new Error('lost answer');
      });
      await expect(failing).rejects.toThrow('lost answer');
      expect([...(cache.data.get('u:lee') as Uint8Array)]).toEqual([0, 1]);
      expect(await users.update(row('lee'), async () => null)).toBeNull();
      cache.data.delete('u:lee');
      await users.find('lee', soon());
      await Bun.sleep(1);
      cache.down = true;
      await users.update(row('lee'), (expected) => store.rename('new', expected));
      cache.recover();
      await Bun.sleep(1);
      expect(await users.find('lee', soon())).toMatchObject({ nickname: 'new' });
    });
  });
});
