/**
 * Recovery codes: the way into an account with two-step login when the
 * authenticator is lost. Ten per enrolment, each 16 characters of lower-case
 * base32 (80 random bits), shown once as `abcd-efgh-ijkl-mnop`.
 *
 * Stored only as SHA-256 of (user id, code). A fast hash is enough here,
 * unlike for passwords, because nobody chose these: 80 random bits are out
 * of reach of an offline search even with the database in hand, and online
 * guesses meet the login throttle. The user id in the hash makes the same
 * code hash differently for two users.
 */
import { createHash } from 'node:crypto';
import { base32Encode } from './base32.ts';

const COUNT = 10;
const CODE = /^[a-z2-7]{16}$/;

/** Ten new recovery codes, as shown to the user. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: COUNT }, () => {
    const text = base32Encode(crypto.getRandomValues(new Uint8Array(10))).toLowerCase();
    return text.match(/.{4}/g)?.join('-') ?? text;
  });
}

/** A recovery code as typed (any case, spaces or hyphens anywhere), canonical; null if it cannot be one. */
export function normalizeRecoveryCode(typed: string): string | null {
  const compact = typed.replace(/[\s-]+/g, '').toLowerCase();
  return CODE.test(compact) ? compact : null;
}

/** What the store keeps of a code (canonical or as shown): base64url SHA-256 of the user id and the code. */
export function hashRecoveryCode(userId: string, code: string): string {
  const canonical = normalizeRecoveryCode(code) ?? code;
  return createHash('sha256').update(`${userId}:${canonical}`).digest('base64url');
}
