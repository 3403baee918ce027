import { describe, expect, it } from 'bun:test';
import { ExpiringKeys } from './expiring-keys.ts';

describe('unit: ExpiringKeys', () => {
  it('should hold a key until its instant, then forget it', () => {
    const keys = new ExpiringKeys(10);
    keys.set('a', 100, 0);
    expect(keys.has('a', 99)).toBe(true);
    expect(keys.has('a', 100)).toBe(false);
    expect(keys.size).toBe(0);
    expect(keys.has('b', 0)).toBe(false);
  });

  it('should keep at most `max` keys, dropping the oldest set', () => {
    const keys = new ExpiringKeys(2);
    keys.set('a', 100, 0);
    keys.set('b', 100, 0);
    keys.set('a', 200, 0); // set again: now the newest
    keys.set('c', 100, 0);
    expect([keys.has('a', 0), keys.has('b', 0), keys.has('c', 0)]).toEqual([true, false, true]);
    keys.delete('a');
    expect(keys.size).toBe(1);
  });

  it('should forget, when a key is set, those at the front whose instant has passed', () => {
    const keys = new ExpiringKeys(10);
    keys.set('a', 100, 0);
    keys.set('b', 300, 0);
    keys.set('c', 400, 150);
    expect(keys.size).toBe(2);
    expect(keys.has('b', 150)).toBe(true);
  });
});
