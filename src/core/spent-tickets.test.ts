import { describe, expect, it } from 'bun:test';
import type { Cache } from '../cache/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { SpentTickets } from './spent-tickets.ts';

/** The part of the Cache port SpentTickets uses, in a Map; `down` makes every call fail. */
function fakeCache() {
  const values = new Map<string, string>();
  const state = { down: false };
  const fail = () => {
    if (state.down) throw new RpcError(Status.UNAVAILABLE, 'cache unreachable');
  };
  const cache = {
    async get(key: string) {
      fail();
      return values.has(key) ? new TextEncoder().encode(values.get(key)) : null;
    },
    async set(key: string, value: string, _ttlMs: number, ifAbsent = false) {
      fail();
      if (ifAbsent && values.has(key)) return false;
      values.set(key, value);
      return true;
    },
  } as unknown as Cache;
  return { cache, values, state };
}

describe('unit: SpentTickets', () => {
  it('should spend a ticket once, in process, until it would have expired anyway', async () => {
    const spent = new SpentTickets(null);
    expect(await spent.spent('t1', 0)).toBe(false);
    expect(await spent.spend('t1', 1000, 0)).toBe(true);
    expect(await spent.spent('t1', 999)).toBe(true);
    expect(await spent.spend('t1', 1000, 500)).toBe(false);
    expect(await spent.spent('t1', 1000)).toBe(false); // expired: refused for that reason anyway
  });

  it("should see another server's use through the cache, and lose a race there", async () => {
    const { cache, values } = fakeCache();
    const here = new SpentTickets(cache);
    const there = new SpentTickets(cache);
    expect(await there.spend('t2', 60_000, 0)).toBe(true);
    expect(values.get('tk:t2')).toBe('1');
    expect(await here.spent('t2', 1)).toBe(true);
    expect(await here.spend('t2', 60_000, 1)).toBe(false);
  });

  it('should keep what it spends in process while the cache is unreachable', async () => {
    const { cache, state } = fakeCache();
    const spent = new SpentTickets(cache);
    state.down = true;
    expect(await spent.spent('t3', 0)).toBe(false);
    expect(await spent.spend('t3', 60_000, 0)).toBe(true);
    expect(await spent.spent('t3', 1)).toBe(true);
    expect(await spent.spend('t3', 60_000, 1)).toBe(false);
  });
});
