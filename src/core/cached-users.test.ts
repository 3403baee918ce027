import { describe, expect, it } from 'bun:test';
import type { Cache } from '../cache/port.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { CachedUsers } from './cached-users.ts';

/** An in-memory cache that can be made to fail, like Redis going away. */
class FakeCache implements Cache {
  readonly data = new Map<string, Uint8Array>();
  down = false;
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
    if (ifAbsent && this.data.has(key)) return false;
    this.data.set(key, typeof value === 'string' ? new TextEncoder().encode(value) : value);
    return true;
  }
  async del(keys: string[]) {
    this.check();
    for (const k of keys) this.data.delete(k);
  }
  async eval(): Promise<number[]> {
    throw new Error('not used by CachedUsers');
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
) {
  const store = fakeStore(initial);
  const users = new CachedUsers(
    store as unknown as UserStore,
    cache,
    bypass,
    { ttlMs: 60_000, negativeTtlMs: 1000, tombstoneMs: 5000 },
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

  it('should work without a cache, still coalescing', async () => {
    const { store, users } = setup(row('frank'), null);
    const release = store.hold();
    const both = Promise.all([users.find('frank', soon()), users.find('frank', soon())]);
    release();
    await both;
    expect(store.reads).toBe(1);
  });
});
