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

  it('should report a count no later event carries once its window has ended, and only once', async () => {
    const reports: [string, number][] = [];
    const sampler = new Sampler(40, 1, (key, heldBack) => reports.push([key, heldBack]));
    expect(sampler.pass('a')).toBe(0);
    expect(sampler.pass('a')).toBeNull();
    expect(sampler.pass('a')).toBeNull();
    expect(sampler.pass('b')).toBe(0);
    expect(reports).toEqual([]); // not before the window ends
    await Bun.sleep(80);
    expect(reports).toEqual([['a', 2]]);
    // The count went out: the next to pass carries none, and nothing is reported twice.
    expect(sampler.pass('a')).toBe(0);
    await Bun.sleep(80);
    expect(reports).toEqual([['a', 2]]);
  });

  it('should leave the count to an event that passes before the report is due', async () => {
    const reports: [string, number][] = [];
    const sampler = new Sampler(40, 1, (key, heldBack) => reports.push([key, heldBack]));
    const start = performance.now();
    sampler.pass('a', start);
    sampler.pass('a', start + 1);
    expect(sampler.pass('a', start + 40)).toBe(1);
    await Bun.sleep(80);
    expect(reports).toEqual([]);
  });
});
