/**
 * Which strings can be keys of stored rows, checked before a query so that a
 * lookup for something no row can hold simply finds nothing.
 *
 * Shared by both adapters. On MySQL they also keep non-ASCII input away from
 * the ASCII columns (a comparison with one is "Illegal mix of collations")
 * and spaces away from PAD SPACE comparisons ('abc ' would equal 'abc').
 */

import type { CacheRepair, RevokedRange } from './port.ts';

const MAX_ID = (1n << 63n) - 1n;
/** A bound of a range of session ids: printable ASCII without the space (PAD SPACE). */
const BOUND = /^[\x21-\x7e]*$/;
const DECIMAL = /^(0|[1-9][0-9]{0,18})$/;
/** Printable ASCII without the space: wider than the username rule upstream (src/wire/account-rules.ts). */
const USERNAME = /^[\x21-\x7e]{1,32}$/;
const SESSION_ID = /^[\x21-\x7e]{1,22}$/;
const PICTURE = /^[\x21-\x7e]{0,100}$/;
/** PHC strings are printable ASCII without spaces. */
const PASSWORD_HASH = /^[\x21-\x7e]{1,255}$/;
/** Sealed TOTP secrets (core/totp-keys.ts) are printable ASCII. */
const SEALED_SECRET = /^[\x21-\x7e]{1,100}$/;
/** A recovery code's hash: SHA-256 in base64url, never a comma (the column's separator). */
const RECOVERY_HASH = /^[A-Za-z0-9_-]{43}$/;

/** The id as a BigInt, or null when no row can have it (not a decimal in 0..2^63-1). */
export function parseId(id: string): bigint | null {
  if (!DECIMAL.test(id)) return null;
  const value = BigInt(id);
  return value <= MAX_ID ? value : null;
}

/** The id of a row being written: a bad one is a bug upstream, so it throws. */
export function requireId(id: string): bigint {
  const value = parseId(id);
  if (value === null)
    throw new RangeError(`user id ${JSON.stringify(id)} is not a decimal in 0..2^63-1`);
  return value;
}

export function isUsernameKey(username: string): boolean {
  return USERNAME.test(username);
}

export function isSessionIdKey(sessionId: string): boolean {
  return SESSION_ID.test(sessionId);
}

export function isPictureKey(picture: string): boolean {
  return PICTURE.test(picture);
}

export function isPasswordHashKey(passwordHash: string): boolean {
  return PASSWORD_HASH.test(passwordHash);
}

export function isSealedSecretKey(sealed: string): boolean {
  return SEALED_SECRET.test(sealed);
}

export function isRecoveryHashKey(hash: string): boolean {
  return RECOVERY_HASH.test(hash);
}

/** A LIKE pattern matching strings that start with `prefix`; '!' is the ESCAPE character. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, '!$&')}%`;
}

/**
 * A page of revoked sessions is 1..10,000, between bounds of printable ASCII
 * without the space (RevokedRange); anything else is a bug upstream.
 */
export function checkRevokedRange(range: RevokedRange): RevokedRange {
  const { from, before, limit } = range;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new RangeError(`revoked-session page ${limit} is not an integer in 1..10000`);
  }
  if (!BOUND.test(from) || (before !== null && (before === '' || !BOUND.test(before)))) {
    throw new RangeError(
      `revoked-session range ${JSON.stringify([from, before])} is not ASCII bounds`,
    );
  }
  return range;
}

/** ListOptions.limit is 1..500; anything else is a bug upstream. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new RangeError(`list limit ${limit} is not an integer in 1..500`);
  }
  return limit;
}

/** The kinds of cache repairs as the `kind` column stores them. */
const REPAIR_KINDS = { session: 1, user: 2 } as const;

/** The `kind` column of a repair, after checking its item can be stored (else a bug upstream). */
export function repairKindCode(repair: CacheRepair): number {
  const fits = repair.kind === 'session' ? isSessionIdKey(repair.item) : isUsernameKey(repair.item);
  if (!fits)
    throw new RangeError(`cache repair item ${JSON.stringify(repair.item)} cannot be stored`);
  return REPAIR_KINDS[repair.kind];
}

/** A stored repair's kind; null for a code this version does not know (left alone). */
export function repairKind(code: number): CacheRepair['kind'] | null {
  if (code === REPAIR_KINDS.session) return 'session';
  if (code === REPAIR_KINDS.user) return 'user';
  return null;
}
