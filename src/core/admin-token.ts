/**
 * The admin API's one bearer token (ADMIN_TOKEN), checked in constant time.
 *
 * Invariants:
 * - the configured token is never compared directly: both it and the
 *   presented one go through HMAC-SHA256 under a key that is random per
 *   process, and the two 32-byte digests are compared with timingSafeEqual.
 *   The time taken depends on neither the content nor the length of the
 *   configured token, so it cannot be guessed a byte at a time;
 * - nothing here is logged, and the digests never leave this object;
 * - no token configured means the admin API is off: every check says so,
 *   whatever is presented.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type AdminTokenCheck = 'ok' | 'denied' | 'off';

/** Longer presented tokens are refused without hashing: no work for absurd input. */
const MAX_PRESENTED = 1024;

export class AdminToken {
  private readonly key = randomBytes(32);
  private readonly expected: Buffer | null;

  /** `configured`: ADMIN_TOKEN, '' when the admin API is off. */
  constructor(configured: string) {
    this.expected = configured === '' ? null : this.digest(configured);
  }

  get enabled(): boolean {
    return this.expected !== null;
  }

  check(presented: string): AdminTokenCheck {
    if (this.expected === null) return 'off';
    if (presented === '' || presented.length > MAX_PRESENTED) return 'denied';
    return timingSafeEqual(this.digest(presented), this.expected) ? 'ok' : 'denied';
  }

  private digest(token: string): Buffer {
    return createHmac('sha256', this.key).update(token, 'utf8').digest();
  }
}
