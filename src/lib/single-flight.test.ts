import { describe, expect, it } from 'bun:test';
import { SingleFlight } from './single-flight.ts';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('unit: SingleFlight', () => {
  it('should share one call among concurrent callers of a key, and start anew once it settled', async () => {
    const flights = new SingleFlight<number>();
    let starts = 0;
    const gate = deferred<number>();
    const start = () => {
      starts++;
      return gate.promise;
    };
    const first = [flights.run('a', start), flights.run('a', start)];
    const other = flights.run('b', () => Promise.resolve(7));
    expect(starts).toBe(1);
    gate.resolve(1);
    expect(await Promise.all(first)).toEqual([1, 1]);
    expect(await other).toBe(7);
    await flights.run('a', start);
    expect(starts).toBe(2);
  });

  it('should not let a call made after forget() join the call begun before it', async () => {
    const flights = new SingleFlight<string>();
    const before = deferred<string>();
    const old = flights.run('k', () => before.promise);
    flights.forget('k');
    const fresh = flights.run('k', () => Promise.resolve('after the write'));
    before.resolve('before the write');
    expect(await old).toBe('before the write');
    expect(await fresh).toBe('after the write');
    // The old call settling does not forget the newer one.
    const gate = deferred<string>();
    const newer = flights.run('k', () => gate.promise);
    expect(flights.run('k', () => Promise.resolve('x'))).toBe(newer);
    gate.resolve('done');
    await newer;
  });

  it('should forget a key whose call failed, and hand the failure to every caller', async () => {
    const flights = new SingleFlight<number>();
    const gate = deferred<number>();
    const calls = [flights.run('k', () => gate.promise), flights.run('k', () => gate.promise)];
    gate.reject(new Error('down'));
    for (const call of calls) await expect(call).rejects.toThrow('down');
    expect(await flights.run('k', () => Promise.resolve(3))).toBe(3);
  });
});
