import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { inertCache } from '../../test/support/inert-cache.ts';
import { temporarySqliteStore } from '../../test/support/sqlite-store.ts';
import { type Logger, silentLogger } from '../log.ts';
import type { ListedSession, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { SessionList, type SessionListOptions } from './session-list.ts';

const NOW = Date.UTC(2026, 11, 3);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sqlite(): Promise<UserStore> {
  const { store, dispose } = await temporarySqliteStore();
  cleanups.push(dispose);
  return store;
}

/** A list over a store, no cache (one process), with a long flush interval unless given. */
function listOver(
  store: UserStore,
  options: Partial<SessionListOptions> = {},
  log: Logger = silentLogger,
) {
  const list = new SessionList(store, null, log, { flushMs: 60_000, ...options }, () => NOW);
  cleanups.push(() => list.close());
  return list;
}

let n = 0;
function entry(userId: string, overrides: Partial<ListedSession> = {}): ListedSession {
  n++;
  return {
    sessionId: `session-${String(n).padStart(14, '0')}`,
    userId,
    createdAtMs: NOW + n,
    expiresAtMs: NOW + 86_400_000,
    persistent: false,
    address: '198.51.100.4',
    userAgent: 'Mozilla/5.0 Firefox/128.0',
    ...overrides,
  };
}

/** The store with its saves held until `release()`. */
function heldSaves(store: UserStore): { slow: UserStore; release: () => void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const slow = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'saveSessions')
        return async (sessions: readonly ListedSession[]) => {
          await held;
          return target.saveSessions(sessions);
        };
      return Reflect.get(target, name, receiver);
    },
  });
  return { slow, release };
}

/** The store, recording the users of each call to trimSessions; each waits for `held` first. */
function spiedTrims(
  store: UserStore,
  held: Promise<void> = Promise.resolve(),
): { spied: UserStore; trims: string[][] } {
  const trims: string[][] = [];
  const spied = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'trimSessions')
        return async (userIds: readonly string[], keep: number) => {
          trims.push([...userIds]);
          await held;
          return target.trimSessions(userIds, keep);
        };
      return Reflect.get(target, name, receiver);
    },
  });
  return { spied, trims };
}

describe('unit: SessionList without a cache', () => {
  it('should list an entry at once from its buffer, and from the store once written', async () => {
    const store = await sqlite();
    const list = listOver(store);
    const first = entry('7');
    await list.record(first);
    expect(await store.listSessions('7', NOW, 10)).toEqual([]);
    expect(await list.list('7', NOW)).toEqual([first]);
    await list.flush();
    expect(list.pending).toBe(0);
    expect(await store.listSessions('7', NOW, 10)).toEqual([first]);
    expect(await list.list('7', NOW)).toEqual([first]);
    // Another process's list over the same store sees it too.
    expect(await listOver(store).list('7', NOW)).toEqual([first]);
  });

  it('should list an entry while its batch is being written (regression: out of the buffer, not yet in the store)', async () => {
    const store = await sqlite();
    const { slow, release } = heldSaves(store);
    const list = listOver(slow);
    const login = entry('11');
    await list.record(login);
    const writing = list.flush();
    expect(await list.list('11', NOW)).toEqual([login]);
    // A renewal while the batch is written: the next batch saves the later expiry.
    const later = { ...login, expiresAtMs: login.expiresAtMs + 1000 };
    await list.record(later, true);
    release();
    await writing;
    expect(list.pending).toBe(1);
    await list.flush();
    expect(list.pending).toBe(0);
    expect(await store.listSessions('11', NOW, 10)).toEqual([later]);
    expect(await list.list('11', NOW)).toEqual([later]);
  });

  it('should write a batch as soon as it is full, without waiting for the interval', async () => {
    const store = await sqlite();
    const list = listOver(store, { flushAt: 3 });
    for (let i = 0; i < 3; i++) await list.record(entry('8'));
    await Bun.sleep(0);
    await list.flush();
    expect(await store.listSessions('8', NOW, 10)).toHaveLength(3);
  });

  it('should keep only what a login may show: printable ASCII, cut to the columns', async () => {
    const store = await sqlite();
    const list = listOver(store);
    await list.record(
      entry('9', { address: 'x'.repeat(100), userAgent: `Zoë 李 ${'y'.repeat(400)}` }),
    );
    await list.flush();
    const [stored] = await store.listSessions('9', NOW, 10);
    expect(stored?.address).toBe('x'.repeat(64));
    expect(stored?.userAgent).toHaveLength(256);
    expect(stored?.userAgent).toStartWith('Zo? ? y');
  });

  it('should raise the expiry on a renewal and keep what the login saw', async () => {
    const store = await sqlite();
    const list = listOver(store);
    const login = entry('10');
    await list.record(login);
    await list.flush();
    const later = { ...login, expiresAtMs: login.expiresAtMs + 1000, address: '', userAgent: '' };
    await list.record(later, true);
    expect(await list.list('10', NOW)).toEqual([{ ...login, expiresAtMs: later.expiresAtMs }]);
    await list.flush();
    expect(await store.listSessions('10', NOW, 10)).toEqual([
      { ...login, expiresAtMs: later.expiresAtMs },
    ]);
  });

  it('should list newest first, hide expired entries and show at most the bound', async () => {
    const store = await sqlite();
    const list = listOver(store, { maxPerUser: 3 });
    const entries = [1, 2, 3, 4].map(() => entry('11'));
    for (const e of entries) await list.record(e);
    await list.record(entry('11', { expiresAtMs: NOW }));
    expect(await list.list('11', NOW)).toEqual([...entries].reverse().slice(0, 3));
  });

  it('should keep a user who logs in without end to a bounded number of rows', async () => {
    const store = await sqlite();
    const list = listOver(store, { maxPerUser: 5, flushAt: 4 });
    for (let i = 0; i < 200; i++) {
      await list.record(entry('12'));
      await list.flush();
    }
    const rows = await store.listSessions('12', NOW, 500);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(rows.length).toBeLessThanOrEqual(2 * 5);
    // The newest are the ones kept.
    expect(rows[0]?.sessionId).toBe(`session-${String(n).padStart(14, '0')}`);
  });

  it("should take sessions off the list, and forget a user's sessions up to an instant", async () => {
    const store = await sqlite();
    const list = listOver(store);
    const [a, b, c] = [entry('13'), entry('13'), entry('13')] as [
      ListedSession,
      ListedSession,
      ListedSession,
    ];
    await list.record(a);
    await list.record(b);
    await list.flush();
    await list.record(c);
    await list.remove('13', [a.sessionId]);
    expect((await list.list('13', NOW)).map((s) => s.sessionId)).toEqual([
      c.sessionId,
      b.sessionId,
    ]);
    await list.forget('13', c.createdAtMs);
    await list.flush();
    expect(await list.list('13', NOW)).toEqual([]);
    expect(await store.listSessions('13', NOW, 10)).toEqual([]);
  });

  it("should turn away a deleted user's logins listed after the deletion, for a minute", async () => {
    const store = await sqlite();
    const clock = { now: NOW };
    const list = new SessionList(store, null, silentLogger, { flushMs: 60_000 }, () => clock.now);
    cleanups.push(() => list.close());
    await list.record(entry('21'));
    await list.record(entry('22'));
    await list.forgetUser('21');
    // A login in flight at the deletion lists its session after it.
    await list.record(entry('21'));
    const kept = entry('22');
    await list.record(kept);
    await list.flush();
    expect(await list.list('21', NOW)).toEqual([]);
    expect(await store.listSessions('21', NOW, 10)).toEqual([]);
    expect((await store.listSessions('22', NOW, 10)).length).toBe(2);
    // Past the minute, the mark is gone (ids are never given again: it only keeps the set small).
    clock.now += 60_001;
    const late = entry('21');
    await list.record(late);
    await list.flush();
    expect(await store.listSessions('21', NOW, 10)).toEqual([late]);
  });

  it('should keep a batch the store refused and write it later, dropping only past its bound', async () => {
    const store = await sqlite();
    let refuse = true;
    const flaky = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'saveSessions' && refuse)
          return async () => {
            throw new RpcError(Status.UNAVAILABLE, 'database busy');
          };
        return Reflect.get(target, name, receiver);
      },
    });
    const list = listOver(flaky, { maxUnsaved: 3, flushMs: 1 });
    const entries = [1, 2, 3, 4].map(() => entry('14'));
    for (const e of entries) await list.record(e);
    expect(list.dropped).toBe(1);
    await list.flush();
    expect(list.pending).toBe(3);
    // Still listed from the buffer while the store refuses.
    expect(await list.list('14', NOW)).toHaveLength(3);
    refuse = false;
    await list.flush();
    expect((await store.listSessions('14', NOW, 10)).map((s) => s.sessionId)).toEqual(
      entries
        .slice(1)
        .reverse()
        .map((e) => e.sessionId),
    );
  });

  // Regression (an operator's audit): with the store down the retries logged about five
  // warnings a second.
  it('should log a failing save once a window, however often it is retried', async () => {
    const store = await sqlite();
    let refuse = true;
    const down = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'saveSessions' && refuse)
          return async () => {
            throw new RpcError(Status.UNAVAILABLE, 'database unavailable');
          };
        return Reflect.get(target, name, receiver);
      },
    });
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const list = listOver(down, { flushMs: 1 }, log);
    await list.record(entry('15'));
    for (let i = 0; i < 20; i++) await list.flush();
    expect(lines.map((line) => line.msg)).toEqual([
      'session list: saving a batch failed, will retry',
    ]);
    refuse = false; // the list's close() writes what it holds
  });

  it('should write what is buffered when it closes', async () => {
    const store = await sqlite();
    const list = new SessionList(store, null, silentLogger, { flushMs: 60_000 }, () => NOW);
    const e = entry('15');
    await list.record(e);
    await list.close();
    expect(await store.listSessions('15', NOW, 10)).toEqual([e]);
  });
});

/** A cache that records the session list's commands; `trimmed` answers evalEach, or throws. */
function recordingCache(trimmed: (key: string) => number) {
  const calls: { script: string; shared: readonly (string | number)[]; keys: string[] }[] = [];
  const cache = inertCache({
    async evalEach(script, shared, items) {
      calls.push({ script: script.name, shared, keys: items.map((item) => item.key) });
      return items.map((item) => trimmed(item.key));
    },
  });
  return { cache, calls };
}

describe('unit: SessionList over a cache', () => {
  it('should send the logins of one batch to the cache as one command, and no session ended before it', async () => {
    const store = await sqlite();
    const { cache, calls } = recordingCache(() => 0);
    const list = new SessionList(store, cache, silentLogger, { flushMs: 60_000 }, () => NOW);
    cleanups.push(() => list.close());
    for (const e of [entry('20'), entry('21'), entry('20')]) await list.record(e);
    // Buffered: a login waits for no command.
    expect(calls).toEqual([]);
    await list.flush();
    const ended = entry('22');
    await list.record(entry('22'));
    await list.record(ended);
    await list.remove('22', [ended.sessionId]);
    await list.flush();
    expect(calls).toEqual([
      { script: 'usermgrSessionList', shared: [NOW, 50], keys: ['ss:20', 'ss:21', 'ss:20'] },
      { script: 'usermgrSessionList', shared: [NOW, 50], keys: ['ss:22'] },
    ]);
    expect((await list.list('22', NOW)).map((s) => s.sessionId)).not.toContain(ended.sessionId);
  });

  it('should send logins to the cache while a slow store holds their batch, a full batch at a time', async () => {
    const store = await sqlite();
    const { slow, release } = heldSaves(store);
    const { cache, calls } = recordingCache(() => 0);
    const list = new SessionList(slow, cache, silentLogger, { flushAt: 4 }, () => NOW);
    cleanups.push(() => list.close());
    // The first four start a batch, which the store holds.
    for (let i = 0; i < 4; i++) await list.record(entry('26'));
    // Eight more while it is held: two commands of four, not held, not one of eight later.
    for (let i = 0; i < 8; i++) await list.record(entry('27'));
    expect(calls.map((call) => call.keys.length)).toEqual([4, 4, 4]);
    release();
    await list.flush();
    expect(await store.listSessions('27', NOW, 100)).toHaveLength(8);
  });

  it("should trim a user's store list when Redis trimmed the user's hash, and only then", async () => {
    const store = await sqlite();
    const { spied, trims } = spiedTrims(store);
    const { cache } = recordingCache((key) => (key === 'ss:24' ? 3 : 0));
    const list = new SessionList(spied, cache, silentLogger, { flushMs: 60_000 }, () => NOW);
    cleanups.push(() => list.close());
    await Promise.all([list.record(entry('23')), list.record(entry('24'))]);
    await list.flush();
    expect(trims.flat()).toEqual(['24']);
  });

  it('should trim every user due after a batch in one call to the store (regression: a call per user held the batches back until entries were dropped)', async () => {
    const store = await sqlite();
    const { spied, trims } = spiedTrims(store);
    const { cache } = recordingCache(() => 3);
    const list = new SessionList(spied, cache, silentLogger, { flushMs: 60_000 }, () => NOW);
    cleanups.push(() => list.close());
    const users = Array.from({ length: 100 }, (_, i) => String(100 + i));
    await Promise.all(users.map((userId) => list.record(entry(userId))));
    await list.flush();
    expect(trims).toHaveLength(1);
    expect([...(trims[0] as string[])].sort()).toEqual([...users].sort());
  });

  it('should save the next batches while a trim is under way (regression: a slow trim of 2000 users held them back until entries were dropped)', async () => {
    const store = await sqlite();
    let release!: () => void;
    const held = new Promise<void>((done) => {
      release = done;
    });
    const { spied, trims } = spiedTrims(store, held);
    const { cache } = recordingCache((key) => (key === 'ss:40' ? 3 : 0));
    const list = new SessionList(
      spied,
      cache,
      silentLogger,
      { flushMs: 60_000, flushAt: 1 },
      () => NOW,
    );
    cleanups.push(() => list.close());
    await list.record(entry('40'));
    while (trims.length === 0) await Bun.sleep(1);
    // The trim of user 40 is held; a login of user 41 is saved meanwhile.
    await list.record(entry('41'));
    const deadline = performance.now() + 2000;
    while ((await store.listSessions('41', NOW, 10)).length === 0) {
      expect(performance.now()).toBeLessThan(deadline);
      await Bun.sleep(5);
    }
    expect(list.pending).toBe(0);
    release();
    await list.flush();
    expect(trims).toEqual([['40']]);
  });

  it('should retry a failed trim by itself, with no login after it', async () => {
    const store = await sqlite();
    let calls = 0;
    const failingOnce = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'trimSessions')
          return async (userIds: readonly string[], keep: number) => {
            // Failing after the batch that began it has ended, as a timeout does.
            if (calls++ === 0) await Bun.sleep(30).then(() => Promise.reject(new Error('timeout')));
            return target.trimSessions(userIds, keep);
          };
        return Reflect.get(target, name, receiver);
      },
    });
    const { cache } = recordingCache(() => 3);
    const list = new SessionList(failingOnce, cache, silentLogger, { flushMs: 10 }, () => NOW);
    cleanups.push(() => list.close());
    await list.record(entry('42'));
    const deadline = performance.now() + 2000;
    while (calls < 2) {
      expect(performance.now()).toBeLessThan(deadline);
      await Bun.sleep(5);
    }
    expect(calls).toBe(2);
  });

  it('should count the logins Redis could not take, so that the store stays bounded', async () => {
    const store = await sqlite();
    const { cache } = recordingCache(() => {
      throw new RpcError(Status.UNAVAILABLE, 'cache unavailable');
    });
    const list = new SessionList(
      store,
      cache,
      silentLogger,
      { flushMs: 60_000, maxPerUser: 3 },
      () => NOW,
    );
    cleanups.push(() => list.close());
    for (let i = 0; i < 7; i++) await list.record(entry('25'));
    await list.flush();
    expect(await store.listSessions('25', NOW, 100)).toHaveLength(3);
  });
});
