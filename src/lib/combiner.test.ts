import { describe, expect, it } from 'bun:test';
import { Combiner } from './combiner.ts';

/** A write whose completion the test decides: each call is recorded with its resolvers. */
function controlledWrites(shared?: (error: unknown) => boolean) {
  const calls: {
    key: string;
    value: number;
    done: (r: string) => void;
    fail: (e: Error) => void;
  }[] = [];
  const combiner = new Combiner<string, number, string>(
    (key, value) =>
      new Promise<string>((done, fail) => {
        calls.push({ key, value, done, fail });
      }),
    shared,
  );
  return { combiner, calls };
}

const settle = () => Bun.sleep(0);

describe('unit: Combiner', () => {
  // Regression (a fault run, MariaDB paused): the group behind a write that found the
  // store hung waited the store again, past its callers' deadline.
  it('should answer the waiting group with a failure it shares, without writing, and write after one it does not', async () => {
    const outage = new Error('store unavailable');
    const { combiner, calls } = controlledWrites((error) => error === outage);
    const first = combiner.run('a', 1).catch((e) => e);
    const group = [combiner.run('a', 2).catch((e) => e), combiner.run('a', 3).catch((e) => e)];
    calls[0]?.fail(outage);
    expect(await first).toBe(outage);
    expect(await Promise.all(group)).toEqual([outage, outage]);
    expect(calls).toHaveLength(1);
    await settle();
    expect(combiner.size).toBe(0);
    // Another failure is the first write's alone: the group writes.
    const second = combiner.run('b', 1).catch((e) => e);
    const behind = combiner.run('b', 2);
    calls[1]?.fail(new Error('version conflict'));
    await second;
    await settle();
    expect(calls.map((c) => [c.key, c.value])).toEqual([
      ['a', 1],
      ['b', 1],
      ['b', 2],
    ]);
    calls[2]?.done('wrote 2');
    expect(await behind).toBe('wrote 2');
  });

  it('should write a lone value at once and forget the key after', async () => {
    const { combiner, calls } = controlledWrites();
    const outcome = combiner.run('a', 1);
    expect(calls.map((c) => c.value)).toEqual([1]);
    calls[0]?.done('wrote 1');
    expect(await outcome).toBe('wrote 1');
    await settle();
    expect(combiner.size).toBe(0);
  });

  it('should write the values that arrive during a write as one write of the last, answering each of them with it', async () => {
    const { combiner, calls } = controlledWrites();
    const first = combiner.run('a', 1);
    const waiting = [combiner.run('a', 2), combiner.run('a', 3), combiner.run('a', 4)];
    expect(calls).toHaveLength(1);
    calls[0]?.done('wrote 1');
    expect(await first).toBe('wrote 1');
    await settle();
    expect(calls.map((c) => c.value)).toEqual([1, 4]);
    // A value arriving now waits for the write of 4: it is not taken for written by it.
    const later = combiner.run('a', 5);
    calls[1]?.done('wrote 4');
    expect(await Promise.all(waiting)).toEqual(['wrote 4', 'wrote 4', 'wrote 4']);
    await settle();
    expect(calls.map((c) => c.value)).toEqual([1, 4, 5]);
    calls[2]?.done('wrote 5');
    expect(await later).toBe('wrote 5');
    await settle();
    expect(combiner.size).toBe(0);
  });

  it('should give a failed write to its own callers only, and still write the group behind it', async () => {
    const { combiner, calls } = controlledWrites();
    const first = combiner.run('a', 1);
    const second = combiner.run('a', 2);
    calls[0]?.fail(new Error('store down'));
    await expect(first).rejects.toThrow('store down');
    await settle();
    expect(calls.map((c) => c.value)).toEqual([1, 2]);
    calls[1]?.done('wrote 2');
    expect(await second).toBe('wrote 2');
  });

  it('should take a write that throws at once as a failed write', async () => {
    let n = 0;
    const combiner = new Combiner<string, number, number>(async (_key, value) => {
      if (n++ === 0) throw new Error('refused');
      return value;
    });
    const thrower = new Combiner<string, number, number>(() => {
      throw new Error('sync');
    });
    await expect(thrower.run('a', 1)).rejects.toThrow('sync');
    await settle();
    expect(thrower.size).toBe(0);
    await expect(combiner.run('a', 1)).rejects.toThrow('refused');
    expect(await combiner.run('a', 2)).toBe(2);
  });

  it('should write different keys side by side', async () => {
    const { combiner, calls } = controlledWrites();
    const a = combiner.run('a', 1);
    const b = combiner.run('b', 2);
    expect(calls.map((c) => [c.key, c.value])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    calls[1]?.done('b');
    calls[0]?.done('a');
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
  });
});
