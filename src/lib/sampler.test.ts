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
});
