/**
 * The verified-credential memo: the login fast path.
 *
 * After a successful slow verification, the memo keeps
 * HMAC-SHA256(key, user id ‖ stored hash ‖ password) for a while, so that
 * the next correct login of that user costs one HMAC instead of an argon2
 * run. Why this is safe:
 * - the key is random per process start and never leaves this process's
 *   memory: an entry is useless to anyone who reads it elsewhere, and nothing
 *   of it is written to Redis, MySQL, logs or the wire;
 * - an entry binds the exact stored hash: a changed password changes the
 *   hash (new salt), so old entries can never match again;
 * - it is filled only after argon2 said yes; a wrong password never matches
 *   and always pays the full slow hash;
 * - entries expire (TTL) and the memo is bounded (LRU), so memory is too.
 * The first two fields are length-prefixed, so no choice of password can
 * shift a boundary between fields.
 */
export interface MemoOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class CredentialMemo {
  readonly counts = { hits: 0, misses: 0 };
  private readonly keyed: Bun.CryptoHasher;
  // Insertion order is recency order: a hit is moved to the end, the oldest is first.
  private readonly entries = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: MemoOptions) {
    this.keyed = new Bun.CryptoHasher('sha256', crypto.getRandomValues(new Uint8Array(32)));
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The memo's key of a credential: HMAC-SHA256 under the per-process key.
   * It is also what concurrent verifications of one credential share a slow
   * hash by (Accounts), so nothing secret is kept anywhere else.
   */
  key(userId: string, storedHash: string, password: string): string {
    return this.keyed
      .copy()
      .update(`${userId.length}:${userId}${storedHash.length}:${storedHash}${password}`)
      .digest('base64');
  }

  /** True when the credential of this key (user, stored hash, password) was verified recently. */
  has(key: string): boolean {
    if (this.options.maxEntries === 0) return false;
    const expires = this.entries.get(key);
    if (expires === undefined || expires <= this.now()) {
      if (expires !== undefined) this.entries.delete(key);
      this.counts.misses++;
      return false;
    }
    this.entries.delete(key);
    this.entries.set(key, expires);
    this.counts.hits++;
    return true;
  }

  /** Call only after argon2 verified the credential of this key. */
  remember(key: string): void {
    if (this.options.maxEntries === 0) return;
    this.entries.delete(key);
    this.entries.set(key, this.now() + this.options.ttlMs);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
