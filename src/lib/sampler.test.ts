import { describe, expect, it } from 'bun:test';
import { Sampler } from './sampler.ts';

describe('unit: Sampler', () => {
  it('should pass the first of each window, and carry the count held back to the next that passes', () => {
    const sampler = new Sampler(10_000);
    expect(sampler.pass('a', 0)).toBe(0);
    expect(sampler.pass('a', 1)).toBeNull();
    expect(sampler.pass('a', 9_999)).toBeNull();
    expect(sampler.pass('b', 2)).toBe(0); // each key has its own window
    expect(sampler.pass('a', 10_000)).toBe(2);
    expect(sampler.pass('a', 10_001)).toBeNull();
  });

  it('should pass a burst in each window before holding back', () => {
    const sampler = new Sampler(1_000, 3);
    expect([0, 1, 2, 3, 4].map((t) => sampler.pass('k', t))).toEqual([0, 0, 0, null, null]);
    expect(sampler.pass('k', 1_000)).toBe(2);
  });

  it('should keep at most maxKeys keys, dropping ended windows and sharing one key beyond', () => {
    const sampler = new Sampler(1_000, 1, 2);
    expect(sampler.pass('a', 0)).toBe(0);
    expect(sampler.pass('b', 0)).toBe(0);
    // Full: new keys share the overflow key's window.
    expect(sampler.pass('c', 1)).toBe(0);
    expect(sampler.pass('d', 2)).toBeNull();
    // a and b ended their windows with nothing held back: they make room.
    expect(sampler.pass('e', 1_500)).toBe(0);
  });

  it('should drop ended windows that held events back too, so that a flood of keys does not fill it for good', () => {
    const sampler = new Sampler(1_000, 1, 3);
    for (const key of ['a', 'b', 'c']) {
      expect(sampler.pass(key, 0)).toBe(0);
      expect(sampler.pass(key, 1)).toBeNull(); // held back: these used to stay for ever
    }
    // A new client later gets a window of its own, not the shared overflow one.
    expect(sampler.pass('d', 5_000)).toBe(0);
    expect(sampler.pass('e', 5_001)).toBe(0);
    expect(sampler.pass('e', 5_002)).toBeNull();
  });
});
