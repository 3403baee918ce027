import { describe, expect, it } from 'bun:test';
import { IdGenerator } from './ids.ts';

describe('unit: IdGenerator', () => {
  it('should give strictly increasing ids, also within one millisecond and when the clock steps back', () => {
    let now = Date.UTC(2026, 0, 1);
    const ids = new IdGenerator(5, () => now);
    const seen: bigint[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i === 5000) now -= 10_000; // clock steps back
      seen.push(BigInt(ids.next()));
    }
    for (let i = 1; i < seen.length; i++)
      expect((seen[i] as bigint) > (seen[i - 1] as bigint)).toBe(true);
  });

  it('should carry the worker id, and differ between workers at the same instant', () => {
    const now = () => Date.UTC(2026, 0, 1);
    const a = BigInt(new IdGenerator(1, now).next());
    const b = BigInt(new IdGenerator(2, now).next());
    expect((a >> 12n) & 1023n).toBe(1n);
    expect((b >> 12n) & 1023n).toBe(2n);
    expect(a).not.toBe(b);
    expect(a > 2n ** 53n).toBe(true);
    expect(a < 2n ** 63n).toBe(true);
  });

  it('should refuse worker ids outside 10 bits', () => {
    expect(() => new IdGenerator(1024)).toThrow();
  });
});
