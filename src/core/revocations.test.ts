import { describe, expect, it } from 'bun:test';
import type { Cache } from '../cache/port.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import type { UserStore } from '../store/port.ts';
import { Status } from '../wire/status.ts';
import { Revocations } from './revocations.ts';

/** A cache kept in a Map that records the order of its reads; `hold` makes reads wait. */
function fakeCache(entries: Record<string, string>) {
  const data = new Map(Object.entries(entries));
  const reads: string[] = [];
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
    async eval() {
      return [];
    },
    onRecover() {},
    async close() {},
  } satisfies Cache;
  return { cache, reads, data, control };
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
    async listRevokedSessions() {
      return revoked.map((sessionId) => ({ sessionId, expiresAtMs: Date.now() + 60_000 }));
    },
  } as unknown as UserStore;
  return { store, asked };
}

const deadline = () => Deadline.after(1000);

describe('unit: Revocations.isRevoked', () => {
  it('should read the sentinel once for the checks of one turn, after their entries', async () => {
    const { cache, reads } = fakeCache({ 'rv:loaded': '1', 'rv:s2': '1' });
    const { store, asked } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const answers = await Promise.all(
      ['s1', 's2', 's3'].map((id) => revocations.isRevoked(id, Date.now(), deadline())),
    );
    expect(answers).toEqual([false, true, false]);
    expect(reads).toEqual(['rv:s1', 'rv:s2', 'rv:s3', 'rv:loaded']);
    expect(asked).toEqual([]);
    // A later turn reads the sentinel again.
    expect(await revocations.isRevoked('s4', Date.now(), deadline())).toBe(false);
    expect(reads.slice(4)).toEqual(['rv:s4', 'rv:loaded']);
  });

  it('should reload the mirror when the sentinel is missing, and answer from what it loaded', async () => {
    const { cache, data } = fakeCache({});
    const { store, asked } = storeRevoking(['gone']);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked('gone', Date.now(), deadline())).toBe(true);
    expect(data.get('rv:gone')).toBe('1');
    expect(data.get('rv:loaded')).toBe('1');
    expect(await revocations.isRevoked('kept', Date.now(), deadline())).toBe(false);
    expect(asked).toEqual([]);
  });

  /**
   * Regression: with the mirror lost under load, every check asked the store
   * behind the bypass cap, and those beyond it got 503 "cache bypass busy"
   * for as long as the reload ran.
   */
  it('should let the checks of a lost mirror wait for its reload instead of overflowing the cap', async () => {
    const { cache, data } = fakeCache({});
    const { store, asked } = storeRevoking(['out1', 'out2']);
    let lists = 0;
    const list = store.listRevokedSessions.bind(store);
    store.listRevokedSessions = async (nowMs: number) => {
      lists++;
      await Bun.sleep(50);
      return list(nowMs);
    };
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
    expect(lists).toBe(1);
    expect(asked).toEqual([]);
    expect(data.get('rv:loaded')).toBe('1');
  });

  it('should count a logout this process could not mirror while the mirror reloads', async () => {
    const { cache } = fakeCache({});
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    const set = cache.set;
    cache.set = async () => {
      throw new Error('down');
    };
    await revocations.revoke('late', 'u1', Date.now() + 60_000, Date.now());
    cache.set = set;
    // The store's list was read before the logout: only this process knows of it.
    store.listRevokedSessions = async () => [];
    expect(await revocations.isRevoked('late', Date.now(), deadline())).toBe(true);
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
    const { cache } = fakeCache({ 'rv:loaded': '1' });
    cache.get = async () => {
      throw new Error('down');
    };
    const { store, asked } = storeRevoking(['s9']);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    expect(await revocations.isRevoked('s9', Date.now(), deadline())).toBe(true);
    expect(asked).toEqual(['s9']);
  });

  it('should share one entry read among concurrent checks of a session, and not past a logout', async () => {
    const { cache, reads, control } = fakeCache({ 'rv:loaded': '1' });
    const { store } = storeRevoking([]);
    const revocations = new Revocations(store, cache, new Semaphore(4, 4), silentLogger);
    control.hold();
    const before = [1, 2, 3].map(() => revocations.isRevoked('s5', Date.now(), deadline()));
    await Bun.sleep(0);
    expect(reads.filter((k) => k === 'rv:s5')).toHaveLength(1);
    // The shared read is still unanswered when the logout is written.
    await revocations.revoke('s5', 'u1', Date.now() + 60_000, Date.now());
    const after = revocations.isRevoked('s5', Date.now(), deadline());
    await Bun.sleep(0);
    expect(reads.filter((k) => k === 'rv:s5')).toHaveLength(2);
    control.release();
    expect(await after).toBe(true);
    expect(await Promise.all(before)).toEqual([false, false, false]);
  });
});
