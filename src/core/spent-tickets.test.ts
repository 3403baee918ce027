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
    async set(key: string, value: string, _ttlMs: number, ifAbsent = false) {
      fail();
      if (ifAbsent && values.has(key)) return false;
      values.set(key, value);
      return true;
    },
    async del(keys: string[]) {
      fail();
      for (const key of keys) values.delete(key);
    },
  } as unknown as Cache;
  return { cache, values, state };
}

describe('unit: SpentTickets', () => {
  it('should let a ticket be taken once, in process, until it would have expired anyway', async () => {
    const spent = new SpentTickets(null);
    expect(await spent.spend('t1', 1000, 0)).toBe(true);
    expect(await spent.spend('t1', 1000, 500)).toBe(false);
    // Expired: refused for that reason anyway, and forgotten here.
    expect(await spent.spend('t1', 2000, 1000)).toBe(true);
  });

  it('should take it again once given back (a wrong code)', async () => {
    const spent = new SpentTickets(null);
    expect(await spent.spend('t4', 60_000, 0)).toBe(true);
    await spent.unspend('t4');
    expect(await spent.spend('t4', 60_000, 1)).toBe(true);
  });

  it("should see another server's take through the cache, lose a race there, and give back there", async () => {
    const { cache, values } = fakeCache();
    const here = new SpentTickets(cache);
    const there = new SpentTickets(cache);
    expect(await there.spend('t2', 60_000, 0)).toBe(true);
    expect(values.get('tk:t2')).toBe('1');
    expect(await here.spend('t2', 60_000, 1)).toBe(false);
    await there.unspend('t2');
    expect(values.has('tk:t2')).toBe(false);
    expect(await here.spend('t2', 60_000, 2)).toBe(true);
  });

  it('should keep what it takes in process while the cache is unreachable', async () => {
    const { cache, state } = fakeCache();
    const spent = new SpentTickets(cache);
    state.down = true;
    expect(await spent.spend('t3', 60_000, 0)).toBe(true);
    expect(await spent.spend('t3', 60_000, 1)).toBe(false);
  });
});
