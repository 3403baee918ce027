import { describe, expect, it } from 'bun:test';
import { hashText, rendezvous } from './affinity.ts';

const servers = ['10.0.0.1:9090', '10.0.0.2:9090', '10.0.0.3:9090'].map((address) => ({
  address,
  hash: hashText(address),
}));
const keys = Array.from({ length: 30_000 }, (_, i) => `user_${i}`);

function owner(key: string, among = servers): string {
  return rendezvous(key, among, (s) => s.address) as string;
}

describe('unit: rendezvous hashing', () => {
  it('should spread keys evenly over the servers', () => {
    const counts = new Map<string, number>();
    for (const key of keys) counts.set(owner(key), (counts.get(owner(key)) ?? 0) + 1);
    expect(counts.size).toBe(3);
    // 10,000 expected each; binomial sd ≈ 82, so ±5% is far outside chance.
    for (const n of counts.values()) expect(Math.abs(n - keys.length / 3)).toBeLessThan(500);
  });

  it('should give the same answer whatever the order of the servers', () => {
    const reversed = [...servers].reverse();
    for (const key of keys.slice(0, 1000)) expect(owner(key, reversed)).toBe(owner(key));
  });

  it('should move only the keys of a server that leaves, each to its next choice', () => {
    const gone = servers[1] as (typeof servers)[number];
    const rest = servers.filter((s) => s !== gone);
    let moved = 0;
    for (const key of keys) {
      const before = owner(key);
      const after = owner(key, rest);
      if (before === gone.address) {
        moved++;
        // Where it goes is its second choice among all three.
        let tries = 0;
        const second = rendezvous(key, servers, (s) => (++tries === 2 ? s.address : null));
        expect(after).toBe(second as string);
      } else {
        expect(after).toBe(before);
      }
    }
    expect(moved).toBeGreaterThan(keys.length / 3 - 500);
    expect(moved).toBeLessThan(keys.length / 3 + 500);
  });

  it('should fall back to the next server when the chosen one refuses, and spread the fallbacks', () => {
    const full = servers[0] as (typeof servers)[number];
    const fallback = new Map<string, number>();
    for (const key of keys) {
      if (owner(key) !== full.address) continue;
      const chosen = rendezvous(key, servers, (s) => (s === full ? null : s.address)) as string;
      expect(chosen).not.toBe(full.address);
      fallback.set(chosen, (fallback.get(chosen) ?? 0) + 1);
    }
    // A saturated server's keys go to both others, not all to one.
    expect(fallback.size).toBe(2);
    const [a, b] = [...fallback.values()] as [number, number];
    expect(Math.abs(a - b)).toBeLessThan((a + b) / 5);
  });

  it('should answer null when every server refuses, after trying each once', () => {
    let tried = 0;
    expect(
      rendezvous('someone', servers, () => {
        tried++;
        return null;
      }),
    ).toBeNull();
    expect(tried).toBe(3);
  });

  it('should work with more servers than its reused scratch space holds', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ hash: hashText(`h${i}:1`), i }));
    const seen = new Set<number>();
    for (const key of keys.slice(0, 4000)) seen.add(rendezvous(key, many, (s) => s.i) as number);
    expect(seen.size).toBe(40);
  });
});
