import { describe, expect, it } from 'bun:test';
import { interruptFirstList } from '../../test/support/list-interrupted.ts';
import type { Cache, CacheScript } from '../cache/port.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import type { RevokedRange, UserStore } from '../store/port.ts';
import { Status } from '../wire/status.ts';
import { entryKey, Revocations, SHARDS, sentinelKey, shardOf } from './revocations.ts';

/**
 * A cache kept in a Map that records the order of its reads; `hold` makes
 * reads wait. It runs the two reload scripts as their Lua does (the table
 * of their cases runs against a real Redis in test/revocation-shards.test.ts).
 */
function fakeCache(entries: Record<string, string>) {
  const data = new Map(Object.entries(entries));
  const reads: string[] = [];
  /** The recovery listeners (Revocations' replay): the Redis adapter calls them inside the first command answered after an outage. */
  const recovered: (() => void)[] = [];
  let gate: Promise<void> = Promise.resolve();
  const control = {
    release: () => {},
    hold() {
      gate = new Promise((resolve) => {
        control.release = resolve;
      });
    },
  };
  const cache = {
    async get(key: string) {
      reads.push(key);
      const seen = data.get(key);
      await gate;
      const value = seen;
      return value === undefined ? null : new TextEncoder().encode(value);
    },
    async set(key: string, value: Uint8Array | string) {
      data.set(key, typeof value === 'string' ? value : new TextDecoder().decode(value));
      return true;
    },
    async del() {},
    async eval(script: CacheScript, key: string, args: readonly (string | number)[]) {
      const state = data.get(key);
      const token = String(args[0]);
      if (script.name === 'usermgrReloadBegin') {
        if (state === '1') return [0];
        data.set(key, `${state === undefined || state.length > 1024 ? 'loading' : state},${token}`);
        return [1];
      }
      if (script.name === 'usermgrReloadFinish') {
        if (state === undefined || !`${state},`.includes(`,${token},`)) return [0];
        data.set(key, '1');
        return [1];
      }
      throw new Error(`unknown script ${script.name}`);
    },
    async evalEach() {
      return [];
    },
    async hashGetAll() {
      return new Map<string, string>();
    },
    async hashDelete() {},
    onRecover(listener: () => void) {
      recovered.push(listener);
    },
    async close() {},
  } satisfies Cache;
  return { cache, reads, data, control, recovered };
}

/** Every key of the shard of `sessionId`: what a Redis Cluster node that loses its data loses. */
function loseShardOf(data: Map<string, string>, sessionId: string): void {
  const prefix = sentinelKey(shardOf(sessionId)).replace(/loaded$/, '');
  for (const key of data.keys()) if (key.startsWith(prefix)) data.delete(key);
}

/** Session ids as the tokens make them (base64url of 16 random bytes). */
function sessionIds(count: number): string[] {
  return Array.from({ length: count }, () =>
    Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url'),
  );
}

/** A session id of shard `shard`. */
function idInShard(shard: number, tail = 'AAAAAAAAAAAAAAAAAAAAA'): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return `${alphabet[shard]}${tail}`;
}

/** Sentinels of every shard, loaded. */
function allLoaded(): Record<string, string> {
  return Object.fromEntries(Array.from({ length: SHARDS }, (_, n) => [sentinelKey(n), '1']));
}

function storeRevoking(revoked: string[]) {
  const asked: string[] = [];
  const store = {
    async revokeSession(sessionId: string) {
      revoked.push(sessionId);
    },
    async isSessionRevoked(sessionId: string) {
      asked.push(sessionId);
      return revoked.includes(sessionId);
    },
    async listRevokedSessions(_nowMs: number, range: RevokedRange) {
      return inRange(revoked, range).map((sessionId) => ({
        sessionId,
        expiresAtMs: Date.now() + 60_000,
      }));
    },
  } as unknown as UserStore;
  return { store, asked };
}

/** A page of `ids` as the stores read one: [from, before) in binary order, at most `limit`. */
function inRange(ids: readonly string[], { from, before, limit }: RevokedRange): string[] {
  return ids
    .filter((id) => id >= from && (before === null || id < before))
    .sort()
    .slice(0, limit);
}

/** Counts the store's page reads by range (`from|before`), after `delayMs` each. */
function countPages(store: UserStore, delayMs = 0): () => string[] {
  const pages: string[] = [];
  const list = store.listRevokedSessions.bind(store);
  store.listRevokedSessions = async (nowMs, range) => {
    pages.push(`${range.from}|${range.before}`);
    if (delayMs > 0) await Bun.sleep(delayMs);
    return list(nowMs, range);
  };
  return () => pages;
}

const deadline = () => Deadline.after(1000);

/** A logout whose mirror write fails (Redis down for it), Redis answering again after. */
async function revokeWhileRedisFails(revocations: Revocations, cache: Cache, sessionId: string) {
  const set = cache.set;
  cache.set = async () => {
    throw new Error('down');
  };
  await revocations.revoke(sessionId, 'u1', Date.now() + 60_000, Date.now());
  cache.set = set;
}

describe('unit: Revocations.isRevoked', () => {
  it("should read each shard's sentinel once for the checks of one turn, after their entries", async () => {
    const [a, b, c, d] = [
      idInShard(1, 'a'),
      idInShard(2, 'b'),
      idInShard(1, 'c'),
      idInShard(2, 'd'),
    ];
    const { cache, reads } = fakeCache({ ...allLoaded(), [entryKey(b)]: '1' });
    const { store, asked } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const answers = await Promise.all(
      [a, b, c].map((id) => revocations.isRevoked(id, Date.now(), deadline())),
    );
    expect(answers).toEqual([false, true, false]);
    // The entry and its sentinel share a hash tag, so they live on one cluster node.
    expect(reads).toEqual([
      'rv:{s1}:Ba',
      'rv:{s2}:Cb',
      'rv:{s1}:Bc',
      'rv:{s1}:loaded',
      'rv:{s2}:loaded',
    ]);
    expect(asked).toEqual([]);
    // A later turn reads the sentinel again.
    expect(await revocations.isRevoked(d, Date.now(), deadline())).toBe(false);
    expect(reads.slice(5)).toEqual(['rv:{s2}:Cd', 'rv:{s2}:loaded']);
  });

  it('should read one sentinel per turn with a single shard (a single Redis)', async () => {
    const ids = [idInShard(1, 'a'), idInShard(2, 'b'), idInShard(3, 'c')];
    const { cache, reads } = fakeCache({
      'rv:{s0}:loaded': '1',
      [entryKey(ids[1] as string, 0)]: '1',
    });
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger, 1);
    const answers = await Promise.all(
      ids.map((id) => revocations.isRevoked(id, Date.now(), deadline())),
    );
    expect(answers).toEqual([false, true, false]);
    expect(reads).toEqual(['rv:{s0}:Ba', 'rv:{s0}:Cb', 'rv:{s0}:Dc', 'rv:{s0}:loaded']);
    expect(() => new Revocations(store, cache, new Semaphore(4, 4), silentLogger, 3)).toThrow();
  });

  it('should let checks wait while the repairs kept in the store are written, then read Redis', async () => {
    const id = idInShard(1, 'a');
    const { cache, data, reads } = fakeCache({ 'rv:{s0}:loaded': '1' });
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger, 1);
    // A repair run after a start or a recovery: it writes a logout another server took.
    let written = () => {};
    revocations.repairing = new Promise<void>((resolve) => {
      written = () => {
        data.set(entryKey(id, 0), '1');
        resolve();
      };
    });
    const check = revocations.isRevoked(id, Date.now(), deadline());
    await Bun.sleep(20);
    expect(reads).toEqual([]); // nothing read from Redis before the repair
    written();
    expect(await check).toBe(true);
  });

  it('should spread session ids evenly over the shards', () => {
    const counts = new Array<number>(SHARDS).fill(0);
    for (const id of sessionIds(16_000)) counts[shardOf(id)] = (counts[shardOf(id)] ?? 0) + 1;
    for (const count of counts) expect(count).toBeGreaterThan(800);
    for (const count of counts) expect(count).toBeLessThan(1200);
  });

  it('should reload the mirror when the sentinel is missing, and answer from what it loaded', async () => {
    const { cache, data } = fakeCache({});
    const { store, asked } = storeRevoking(['gone']);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked('gone', Date.now(), deadline())).toBe(true);
    expect(data.get(entryKey('gone'))).toBe('1');
    expect(data.get(sentinelKey(shardOf('gone')))).toBe('1');
    expect(await revocations.isRevoked('kept', Date.now(), deadline())).toBe(false);
    expect(asked).toEqual([]);
  });

  it('should write a large mirror back a bounded number at a time, over every shard it reloads (regression: 100,000 at once outlasted the command timeout, and no reload finished)', async () => {
    const { cache, data } = fakeCache({});
    let inFlight = 0;
    let most = 0;
    const set = cache.set;
    cache.set = async (key, value) => {
      most = Math.max(most, ++inFlight);
      await Bun.sleep(0);
      inFlight--;
      return set(key, value);
    };
    const ids = sessionIds(20_000);
    const { store } = storeRevoking(ids);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    // One check per shard in one turn: one reload of all 16 shards (about 1,250 entries each).
    const checked = Array.from(
      { length: SHARDS },
      (_, shard) => ids.find((id) => shardOf(id) === shard) as string,
    );
    const answers = await Promise.all(
      checked.map((id) => revocations.isRevoked(id, Date.now(), Deadline.after(5000))),
    );
    expect(answers.every((revoked) => revoked)).toBe(true);
    expect(ids.every((id) => data.get(entryKey(id)) === '1')).toBe(true);
    expect(most).toBe(1000);
  });

  /**
   * Regression: a reload read every live revocation into one array, whatever
   * their number (446 bytes each: gigabytes at 10 million).
   */
  it("should read a shard's revocations a page at a time, and only that shard's", async () => {
    const tails = sessionIds(12_001).map((id) => id.slice(1));
    const mine = tails.map((tail) => idInShard(3, tail));
    const others = sessionIds(2000).filter((id) => shardOf(id) !== 3);
    const loaded = allLoaded();
    delete loaded[sentinelKey(3)];
    const { cache, data } = fakeCache(loaded);
    const { store } = storeRevoking([...mine, ...others]);
    const sizes: number[] = [];
    const list = store.listRevokedSessions.bind(store);
    store.listRevokedSessions = async (nowMs, range) => {
      const page = await list(nowMs, range);
      sizes.push(page.length);
      for (const r of page) expect(shardOf(r.sessionId)).toBe(3);
      return page;
    };
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked(mine[7] as string, Date.now(), deadline())).toBe(true);
    expect(Math.max(...sizes)).toBe(5000);
    // 12,001 in pages of 5,000, each page after the first starting at the last of the one before.
    expect(sizes.filter((n) => n > 0)).toEqual([5000, 5000, 2003]);
    expect(mine.every((id) => data.get(entryKey(id)) === '1')).toBe(true);
    expect(others.some((id) => data.has(entryKey(id)))).toBe(false);
    expect(data.get(sentinelKey(3))).toBe('1');
  });

  it("should find every revocation in its own shard's ranges, whatever its first character", async () => {
    for (const shards of [SHARDS, 1]) {
      const ids = Array.from(
        { length: 0x7e - 0x21 + 1 },
        (_, i) => `${String.fromCharCode(0x21 + i)}${'x'.repeat(21)}`,
      );
      const { cache, data } = fakeCache({});
      const { store } = storeRevoking(ids);
      const pages = countPages(store);
      const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger, shards);
      const answers = await Promise.all(
        ids.map((id) => revocations.isRevoked(id, Date.now(), deadline())),
      );
      expect(answers.every((revoked) => revoked)).toBe(true);
      for (const id of ids) expect(data.get(entryKey(id, shardOf(id, shards)))).toBe('1');
      // Every range once; a single shard is one range.
      expect(new Set(pages()).size).toBe(pages().length);
      if (shards === 1) expect(pages()).toEqual(['|null']);
    }
  });

  /**
   * Regression: with the mirror lost under load, every check asked the store
   * behind the bypass cap, and those beyond it got 503 "cache bypass busy"
   * for as long as the reload ran.
   */
  it('should let the checks of a lost mirror wait for its reload instead of overflowing the cap', async () => {
    const { cache, data } = fakeCache({});
    const { store, asked } = storeRevoking(['out1', 'out2']);
    const pages = countPages(store, 10);
    // One store read at a time and none waiting: a second one at once is refused.
    const revocations = new Revocations(store, cache, new Semaphore(1, 0), silentLogger);
    const ids = Array.from({ length: 200 }, (_, i) =>
      i % 50 === 0 ? `out${1 + (i % 2)}` : `s${i}`,
    );
    const answers = await Promise.allSettled(
      ids.map((id) => revocations.isRevoked(id, Date.now(), deadline())),
    );
    expect(answers.filter((a) => a.status === 'rejected')).toEqual([]);
    expect(answers.map((a) => a.status === 'fulfilled' && a.value)).toEqual(
      ids.map((id) => id.startsWith('out')),
    );
    // One load of each shard: no range of the store was read twice.
    expect(pages().length).toBeGreaterThan(0);
    expect(new Set(pages()).size).toBe(pages().length);
    expect(asked).toEqual([]);
    // out1 and s1 are in different shards, both lost, both loaded.
    expect(shardOf('out1')).not.toBe(shardOf('s1'));
    expect(data.get(sentinelKey(shardOf('out1')))).toBe('1');
    expect(data.get(sentinelKey(shardOf('s1')))).toBe('1');
  });

  /**
   * Regression: Redis lost the mirror while a reload ran (after it read the
   * store, before it wrote the sentinel). The logout made in between was
   * gone from Redis and missing from the list, and the sentinel, written
   * after, said "loaded": the logged-out token was valid again.
   */
  it('should not mark a shard loaded when Redis lost it during the reload', async () => {
    const { cache, data } = fakeCache({});
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const late = idInShard(3, 'late');
    // After the list was read: a logout, then Redis is flushed.
    const { lists } = interruptFirstList(store, async () => {
      await revocations.revoke(late, 'u1', Date.now() + 60_000, Date.now());
      data.clear();
    });
    expect(await revocations.isRevoked(idInShard(3, 'other'), Date.now(), deadline())).toBe(false);
    // The first load was not trusted: the check loaded the shard again.
    expect(lists()).toBe(2);
    expect(data.get(sentinelKey(3))).toBe('1');
    expect(await revocations.isRevoked(late, Date.now(), deadline())).toBe(true);
    expect(data.get(entryKey(late))).toBe('1');
  });

  it('should reload only the shard that was lost, and keep refusing its logged-out sessions', async () => {
    const out = sessionIds(64);
    const { cache, data, reads } = fakeCache(allLoaded());
    for (const id of out) data.set(entryKey(id), '1');
    const { store, asked } = storeRevoking([...out]);
    const pages = countPages(store);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const lost = out[0] as string;
    loseShardOf(data, lost);
    expect(data.has(sentinelKey(shardOf(lost)))).toBe(false);
    const answers = await Promise.all(
      [...out, ...sessionIds(64)].map((id) => revocations.isRevoked(id, Date.now(), deadline())),
    );
    expect(answers).toEqual([...out.map(() => true), ...out.map(() => false)]);
    // Only the lost shard's ranges were read, each once.
    expect(pages().length).toBeGreaterThan(0);
    expect(new Set(pages()).size).toBe(pages().length);
    for (const page of pages()) expect(shardOf(page.split('|')[0] || '!')).toBe(shardOf(lost));
    expect(asked).toEqual([]);
    expect(data.get(sentinelKey(shardOf(lost)))).toBe('1');
    // The other shards were not written again.
    const rewritten = out.filter((id) => shardOf(id) === shardOf(lost));
    for (const id of rewritten) expect(data.get(entryKey(id))).toBe('1');
    expect(reads.filter((key) => key.endsWith(':loaded')).length).toBeLessThanOrEqual(SHARDS + 1);
  });

  it('should let two servers reload one shard at once, the later one reading again', async () => {
    const { cache, data } = fakeCache({});
    const gone = idInShard(5, 'gone');
    const { store } = storeRevoking([gone]);
    const first = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const second = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const kept = idInShard(5, 'kept');
    const answers = await Promise.all([
      first.isRevoked(gone, Date.now(), deadline()),
      second.isRevoked(gone, Date.now(), deadline()),
      first.isRevoked(kept, Date.now(), deadline()),
      second.isRevoked(kept, Date.now(), deadline()),
    ]);
    expect(answers).toEqual([true, true, false, false]);
    expect(data.get(sentinelKey(5))).toBe('1');
  });

  it('should count a logout this process could not mirror while the mirror reloads', async () => {
    const { cache } = fakeCache({});
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    await revokeWhileRedisFails(revocations, cache, 'late');
    // The store's list was read before the logout: only this process knows of it.
    store.listRevokedSessions = async () => [];
    expect(await revocations.isRevoked('late', Date.now(), deadline())).toBe(true);
  });

  it('should count a logout this process could not mirror where Redis says the shard is loaded', async () => {
    const { cache, data } = fakeCache(allLoaded());
    const { store, asked } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    await revokeWhileRedisFails(revocations, cache, 'late');
    expect(data.has(entryKey('late'))).toBe(false);
    expect(await revocations.isRevoked('late', Date.now(), deadline())).toBe(true);
    expect(await revocations.isRevoked('other', Date.now(), deadline())).toBe(false);
    expect(asked).toEqual([]);
  });

  /**
   * Regression: the replay of a logout Redis missed forgot it before writing
   * it, and the replay runs inside the first command Redis answers again:
   * when that was a check of the session itself, the check found no entry,
   * a loaded shard and nothing pending, and answered "not revoked".
   */
  it('should keep refusing a logout Redis missed while its replay is written', async () => {
    const { cache, data, recovered } = fakeCache(allLoaded());
    const { store, asked } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    await revokeWhileRedisFails(revocations, cache, 'late');
    const get = cache.get;
    cache.get = async (key) => {
      // Redis answers again: the read went out first, then the adapter tells
      // its listeners, inside this command, before the read's answer is used.
      cache.get = get;
      const answer = get(key);
      for (const listener of recovered) listener();
      return answer;
    };
    expect(await revocations.isRevoked('late', Date.now(), deadline())).toBe(true);
    // The recovery, if the check above did not set it off.
    expect(await revocations.isRevoked('other', Date.now(), deadline())).toBe(false);
    await Bun.sleep(0);
    expect(data.get(entryKey('late'))).toBe('1');
    expect(await revocations.isRevoked('late', Date.now(), deadline())).toBe(true);
    expect(asked).toEqual([]);
  });

  it('should fail closed at the deadline when the reload is slower than it', async () => {
    const { cache } = fakeCache({});
    const { store } = storeRevoking([]);
    store.listRevokedSessions = () => new Promise(() => {});
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const started = performance.now();
    const check = revocations.isRevoked('s1', Date.now(), Deadline.after(50));
    await expect(check).rejects.toMatchObject({ code: Status.UNAVAILABLE });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1000);
  });

  it('should ask the store for each check when the reload fails', async () => {
    const { cache } = fakeCache({});
    const { store, asked } = storeRevoking(['s7']);
    store.listRevokedSessions = async () => {
      throw new Error('store down for listing');
    };
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked('s7', Date.now(), deadline())).toBe(true);
    expect(asked).toEqual(['s7']);
  });

  it('should ask the store when the cache fails', async () => {
    const { cache } = fakeCache(allLoaded());
    cache.get = async () => {
      throw new Error('down');
    };
    const { store, asked } = storeRevoking(['s9']);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked('s9', Date.now(), deadline())).toBe(true);
    expect(asked).toEqual(['s9']);
  });

  it('should share one entry read among concurrent checks of a session, and not past a logout', async () => {
    const { cache, reads, control } = fakeCache(allLoaded());
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    control.hold();
    const before = [1, 2, 3].map(() => revocations.isRevoked('s5', Date.now(), deadline()));
    await Bun.sleep(0);
    expect(reads.filter((k) => k === entryKey('s5'))).toHaveLength(1);
    // The shared read is still unanswered when the logout is written.
    await revocations.revoke('s5', 'u1', Date.now() + 60_000, Date.now());
    const after = revocations.isRevoked('s5', Date.now(), deadline());
    await Bun.sleep(0);
    expect(reads.filter((k) => k === entryKey('s5'))).toHaveLength(2);
    control.release();
    expect(await after).toBe(true);
    expect(await Promise.all(before)).toEqual([false, false, false]);
  });
});
