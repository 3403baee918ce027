import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { inertCache } from '../../test/support/inert-cache.ts';
import { temporarySqliteStore } from '../../test/support/sqlite-store.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import type { UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { CacheRepairs } from './cache-repairs.ts';
import { CachedUsers } from './cached-users.ts';
import { Revocations } from './revocations.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An error reply of Redis's, as ioredis gives it. */
function replyError(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

/** A Redis that answers reads (with nothing) and refuses every write, until told otherwise. */
function refusingCache() {
  const control = { refusing: true, unreachable: false, sets: 0 };
  const cache = inertCache({
    async set() {
      control.sets++;
      if (control.unreachable)
        throw new RpcError(Status.UNAVAILABLE, 'cache unavailable', {
          cause: new Error("Stream isn't writeable and enableOfflineQueue options is false"),
        });
      if (control.refusing)
        throw new RpcError(Status.UNAVAILABLE, 'cache unavailable', {
          cause: replyError('NOREPLICAS Not enough good replicas to write.'),
        });
      return true;
    },
  });
  return { cache, control };
}

async function setup() {
  const { store, dispose } = await temporarySqliteStore();
  cleanups.push(dispose);
  const { cache, control } = refusingCache();
  const bypass = new Semaphore(8, 8);
  const revocations = new Revocations(store, cache, bypass, silentLogger, 1);
  const users = new CachedUsers(
    store,
    cache,
    bypass,
    { ttlMs: 60_000, negativeTtlMs: 1000, tombstoneMs: 1000 },
    silentLogger,
  );
  const lines: { msg: string; left?: number; reason?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const repairs = new CacheRepairs(store, cache, revocations, users, log);
  return { store, cache: control, revocations, repairs, lines };
}

const sessionId = (i: number) => `s${String(i).padStart(6, '0')}`.padEnd(22, 'x');

async function keep(store: UserStore, count: number, expiresAtMs: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await store.addCacheRepair({ kind: 'session', item: sessionId(i), expiresAtMs });
}

describe('unit: CacheRepairs while Redis refuses writes', () => {
  it('should hold every repair the store keeps, past the first page, and write none of those twice', async () => {
    const { store, cache, revocations, repairs, lines } = await setup();
    await keep(store, 2500, Date.now() + 86_400_000);
    await repairs.run();
    // One page tried (each refused), the rest held without a write each would be refused.
    expect(cache.sets).toBe(1000);
    const now = Date.now();
    for (const i of [0, 999, 1000, 2000, 2499])
      expect(await revocations.isRevoked(sessionId(i), now, Deadline.after(1000))).toBe(true);
    const warned = lines.filter((l) => l.msg.startsWith('Redis does not take'));
    expect(warned.map((l) => [l.left, l.reason])).toEqual([
      [2500, 'NOREPLICAS Not enough good replicas to write.'],
    ]);

    // Redis takes writes again: written a page a run, and said so once none is left.
    cache.refusing = false;
    for (let run = 0; run < 3; run++) await repairs.run();
    expect(await store.listCacheRepairs(Date.now(), 10)).toEqual([]);
    const said = lines.map((l) => l.msg).filter((m) => !m.startsWith('wrote cache changes'));
    expect(said).toEqual([
      'Redis does not take the cache changes kept in the store: each TCP server holds them in its own checks and retries every few seconds',
      'Redis takes the cache changes kept in the store again',
    ]);
  });

  it('should hold, and not call a refusal, what an unreachable Redis did not take', async () => {
    const { store, cache, revocations, repairs, lines } = await setup();
    cache.unreachable = true;
    await keep(store, 2, Date.now() + 86_400_000);
    await repairs.run();
    expect(await revocations.isRevoked(sessionId(1), Date.now(), Deadline.after(1000))).toBe(true);
    expect(lines.filter((l) => l.msg.startsWith('Redis does not take'))).toEqual([]);
  });

  it('should forget what it held once those sessions have expired, and not claim Redis took them', async () => {
    const { store, revocations, repairs, lines } = await setup();
    await keep(store, 3, Date.now() + 150);
    await repairs.run();
    expect(await revocations.isRevoked(sessionId(0), Date.now(), Deadline.after(1000))).toBe(true);
    await Bun.sleep(200);
    await repairs.run();
    expect(lines.at(-1)?.msg).toBe(
      'the cache changes Redis refused have expired: none is held any more',
    );
    expect((revocations as unknown as { pending: Map<string, number> }).pending.size).toBe(0);
  });
});
