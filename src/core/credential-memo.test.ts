import { describe, expect, it } from 'bun:test';
import { CredentialMemo } from './credential-memo.ts';

describe('unit: CredentialMemo', () => {
  it('should match only the same user, stored hash and password', () => {
    const memo = new CredentialMemo({ ttlMs: 60_000, maxEntries: 10 });
    memo.remember(memo.key('1', '$argon2id$h1', 'secret-pw'));
    expect(memo.has(memo.key('1', '$argon2id$h1', 'secret-pw'))).toBe(true);
    expect(memo.has(memo.key('1', '$argon2id$h1', 'secret-pX'))).toBe(false);
    expect(memo.has(memo.key('1', '$argon2id$h2', 'secret-pw'))).toBe(false); // password changed: new hash
    expect(memo.has(memo.key('2', '$argon2id$h1', 'secret-pw'))).toBe(false);
    expect(memo.counts).toEqual({ hits: 1, misses: 3 });
  });

  it('should not let a NUL in the password shift the field boundaries', () => {
    const memo = new CredentialMemo({ ttlMs: 60_000, maxEntries: 10 });
    memo.remember(memo.key('1', 'h', 'a\0b'));
    expect(memo.has(memo.key('1', 'h\0a', 'b'))).toBe(false);
    expect(memo.has(memo.key('1', 'h', 'a\0b'))).toBe(true);
  });

  it('should forget entries after the TTL', () => {
    let now = 1000;
    const memo = new CredentialMemo({ ttlMs: 100, maxEntries: 10, now: () => now });
    memo.remember(memo.key('1', 'h', 'pw'));
    now += 99;
    expect(memo.has(memo.key('1', 'h', 'pw'))).toBe(true);
    now += 2;
    expect(memo.has(memo.key('1', 'h', 'pw'))).toBe(false);
    expect(memo.size).toBe(0);
  });

  it('should evict the least recently used entry when full', () => {
    const memo = new CredentialMemo({ ttlMs: 60_000, maxEntries: 2 });
    memo.remember(memo.key('1', 'h', 'a'));
    memo.remember(memo.key('2', 'h', 'b'));
    expect(memo.has(memo.key('1', 'h', 'a'))).toBe(true); // 1 is now the most recent
    memo.remember(memo.key('3', 'h', 'c'));
    expect(memo.has(memo.key('2', 'h', 'b'))).toBe(false);
    expect(memo.has(memo.key('1', 'h', 'a'))).toBe(true);
    expect(memo.has(memo.key('3', 'h', 'c'))).toBe(true);
    expect(memo.size).toBe(2);
  });

  it('should use a different key in every process start (instance)', () => {
    const a = new CredentialMemo({ ttlMs: 60_000, maxEntries: 10 });
    const b = new CredentialMemo({ ttlMs: 60_000, maxEntries: 10 });
    a.remember(a.key('1', 'h', 'pw'));
    expect(b.has(b.key('1', 'h', 'pw'))).toBe(false);
    expect(b.key('1', 'h', 'pw')).not.toBe(a.key('1', 'h', 'pw'));
  });
});
