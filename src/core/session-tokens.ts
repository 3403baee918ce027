/**
 * Session tokens: `base64url(payload).base64url(HMAC-SHA256(secret[kid], payload))`.
 *
 * Payload (binary, big-endian): version 3 (1 byte), key id (1), user id (8),
 * session id (16 random bytes), issued-at ms (8), expires-at ms (8), flags
 * (1: bit 0 "keep me logged in"), valid-after ms (8: the user's
 * sessions_valid_after in the row the login checked the password against),
 * username length (1) and username (ASCII). Versions 2 (no valid-after) and
 * 1 (no flags byte either) are still read, with a null valid-after, and
 * version 1 as a session without "keep me logged in". The token carries what
 * is needed to check it. The username lets the check use the same cache
 * entry as login; the user id guards against a username that was deleted and
 * registered again by someone else; the valid-after ends the session when
 * sessions_valid_after moves (a password change, "log out everywhere"), even
 * when the login read the user before the change and issued its token after
 * it, which issue times alone let live on. A re-hash of the same password
 * leaves it, and the sessions, alone.
 *
 * Lifetimes: a session lasts `lifetimeMs`, or `rememberLifetimeMs` with
 * "keep me logged in", from its last renewal. A renewal (renew()) is the same
 * session (same id, same issued-at: "log out everywhere" still ends it) in a
 * new token with a later expiry; it is due once a quarter of the lifetime has
 * passed (needsRenewal), so a session in use slides on with one new token per
 * quarter of its lifetime, not one per request.
 *
 * Keys: the first secret signs, all verify (rotation: put the new secret
 * first, drop the old one after a token lifetime). A key id is the first
 * byte of SHA-256 of its secret, stable however the list is ordered.
 *
 * A token has exactly one spelling: the unpadded base64url that issue()
 * writes. Decoders take others for the same bytes (unused bits at the end set,
 * a dangling character, padding), and every spelling of one session would be
 * another string to log, cache, compare or block; so verify() refuses any
 * text that is not the canonical encoding of the bytes it decodes to.
 *
 * This module only proves a token authentic and unexpired. Whether its
 * session was ended (logout, logout everywhere) is checked by the caller.
 */
import { timingSafeEqual } from 'node:crypto';

export interface SessionClaims {
  userId: string;
  username: string;
  /** 22 characters of base64url. */
  sessionId: string;
  /** When the session began (a renewal keeps it). */
  issuedAtMs: number;
  expiresAtMs: number;
  /** "Keep me logged in": the longer lifetime, and a cookie that outlives the browser session. */
  persistent: boolean;
  /**
   * The user's sessions_valid_after when the session was earned: it must
   * still be the user's. Null in tokens issued before it was carried.
   */
  validAfterMs: number | null;
}

const VERSION = 3;
/** Tokens issued before the valid-after: read with a null one. */
const VERSION_2 = 2;
/** Tokens issued before the flags byte: read as sessions without "keep me logged in". */
const VERSION_1 = 1;
const VALID_AFTER_AT = 43;
const FIXED_BYTES = 1 + 1 + 8 + 16 + 8 + 8 + 1 + 8 + 1;
const FIXED_BYTES_V2 = FIXED_BYTES - 8;
const FIXED_BYTES_V1 = FIXED_BYTES_V2 - 1;
const PERSISTENT = 1;
/** A token is renewed once this part of its lifetime has passed. */
const RENEW_AFTER = 1 / 4;
/**
 * How long after a session is ended a token of it issued at that moment may
 * still be made: a renewal checked the session just before it was ended.
 */
const RENEWAL_SLACK_MS = 60_000;
/** Longer input is refused before any decoding work. */
const MAX_TOKEN_CHARS = 256;
const BASE64URL = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

interface Key {
  kid: number;
  hmac: Bun.CryptoHasher;
}

export class SessionTokens {
  private readonly keys: Key[];
  private readonly csrf: Bun.CryptoHasher;

  private readonly handles: Bun.CryptoHasher;
  /** sign()'s payload, written in place (the fixed part and a username of at most 255). */
  private readonly scratch = Buffer.alloc(FIXED_BYTES + 255);
  private readonly view = new DataView(
    this.scratch.buffer,
    this.scratch.byteOffset,
    this.scratch.byteLength,
  );
  /** The MAC, in its first 32 bytes (digest() takes no array under 64 bytes). */
  private readonly mac = Buffer.alloc(64);
  private readonly random = new RandomIds();

  constructor(
    secrets: readonly string[],
    readonly lifetimeMs: number,
    readonly rememberLifetimeMs = lifetimeMs,
  ) {
    if (secrets.length === 0) throw new Error('at least one session secret is needed');
    this.keys = secrets.map((secret) => ({
      kid: new Bun.CryptoHasher('sha256').update(secret).digest()[0] as number,
      hmac: new Bun.CryptoHasher('sha256', secret),
    }));
    const kids = new Set(this.keys.map((k) => k.kid));
    if (kids.size !== this.keys.length)
      throw new Error('two session secrets share a key id: replace one of them');
    this.csrf = new Bun.CryptoHasher('sha256', `csrf\0${secrets[0]}`);
    this.handles = new Bun.CryptoHasher('sha256', `session-handle\0${secrets[0]}`);
  }

  /**
   * A new session for this user, issued at `issuedAtMs`, earned against the
   * row that has `user.sessionsValidAfterMs`; with `persistent`, "keep me
   * logged in".
   */
  issue(
    user: { id: string; username: string; sessionsValidAfterMs: number },
    issuedAtMs: number,
    persistent = false,
  ): { token: string; claims: SessionClaims } {
    const sessionBytes = this.random.take();
    const claims: SessionClaims = {
      userId: user.id,
      username: user.username,
      sessionId: sessionBytes.toString('base64url'),
      issuedAtMs,
      expiresAtMs: issuedAtMs + this.lifetimeOf(persistent),
      persistent,
      validAfterMs: user.sessionsValidAfterMs,
    };
    return { token: this.sign(claims, sessionBytes), claims };
  }

  /**
   * The same session in a new token that expires a whole lifetime after
   * `nowMs`. A token from before the valid-after gets `validAfterMs`, the
   * user's now (the caller has checked the session, and that it may).
   */
  renew(
    claims: SessionClaims,
    nowMs: number,
    validAfterMs: number,
  ): { token: string; claims: SessionClaims } {
    const renewed = {
      ...claims,
      expiresAtMs: nowMs + this.lifetimeOf(claims.persistent),
      validAfterMs: claims.validAfterMs ?? validAfterMs,
    };
    return {
      token: this.sign(renewed, Buffer.from(claims.sessionId, 'base64url')),
      claims: renewed,
    };
  }

  /** True once a quarter of the token's lifetime has passed: a renewal is then worth its write. */
  needsRenewal(claims: SessionClaims, nowMs: number): boolean {
    const lifetime = this.lifetimeOf(claims.persistent);
    return claims.expiresAtMs - nowMs < lifetime * (1 - RENEW_AFTER);
  }

  /**
   * The latest expiry any token of this session can have if it ends at
   * `nowMs`: renewals push expiries on, so a token other than `expiresAtMs`'s
   * may outlive it. What a revocation must outlast.
   */
  latestExpiryMs(persistent: boolean, expiresAtMs: number, nowMs: number): number {
    return Math.max(expiresAtMs, nowMs + this.lifetimeOf(persistent)) + RENEWAL_SLACK_MS;
  }

  lifetimeOf(persistent: boolean): number {
    return persistent ? this.rememberLifetimeMs : this.lifetimeMs;
  }

  /**
   * The name a session is shown by to its user (the list of sessions): an
   * HMAC of its id, so that it is neither the session id nor anything a
   * token or anti-CSRF token can be made from. Same length as a session id.
   */
  handle(sessionId: string): string {
    return this.handles.copy().update(sessionId).digest().subarray(0, 16).toString('base64url');
  }

  private sign(claims: SessionClaims, sessionBytes: Uint8Array): string {
    // Written into one buffer of this instance and read out as text before
    // returning: a token costs no allocation but its strings (bench/RESULTS.md).
    const { username } = claims;
    const key = this.keys[0] as Key;
    const { scratch, view, mac } = this;
    // Usernames are at most 32 characters (validation.ts); the length is one byte.
    if (username.length > 255) throw new Error('a username longer than 255 in a session token');
    const length = FIXED_BYTES + username.length;
    scratch[0] = VERSION;
    scratch[1] = key.kid;
    view.setBigUint64(2, BigInt(claims.userId));
    scratch.set(sessionBytes, 10);
    setUint64(view, 26, claims.issuedAtMs);
    setUint64(view, 34, claims.expiresAtMs);
    scratch[42] = claims.persistent ? PERSISTENT : 0;
    if (claims.validAfterMs === null) throw new Error('a session token needs its valid-after');
    setUint64(view, VALID_AFTER_AT, claims.validAfterMs);
    scratch[FIXED_BYTES - 1] = username.length;
    for (let i = 0; i < username.length; i++)
      scratch[FIXED_BYTES + i] = username.charCodeAt(i) & 0x7f;
    const payload = scratch.subarray(0, length);
    key.hmac.copy().update(payload).digest(mac);
    return `${scratch.toString('base64url', 0, length)}.${mac.toString('base64url', 0, 32)}`;
  }

  /** The claims of an authentic, unexpired token; null for anything else. */
  verify(token: string, nowMs: number): SessionClaims | null {
    if (token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return null;
    const dot = token.indexOf('.');
    if (!isCanonical(token, 0, dot) || !isCanonical(token, dot + 1, token.length)) return null;
    const payload = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const version = payload[0];
    const fixed =
      version === VERSION
        ? FIXED_BYTES
        : version === VERSION_2
          ? FIXED_BYTES_V2
          : version === VERSION_1
            ? FIXED_BYTES_V1
            : 0;
    if (fixed === 0 || payload.length < fixed) return null;
    const key = this.keys.find((k) => k.kid === payload[1]);
    if (key === undefined) return null;
    const expected = key.hmac.copy().update(payload).digest();
    // Constant time, so that the comparison leaks nothing about the right MAC.
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return null;
    const usernameLength = payload[fixed - 1] as number;
    if (payload.length !== fixed + usernameLength) return null;
    const expiresAtMs = Number(payload.readBigUInt64BE(34));
    if (expiresAtMs <= nowMs) return null;
    return {
      userId: payload.readBigUInt64BE(2).toString(),
      username: payload.toString('latin1', fixed),
      sessionId: payload.toString('base64url', 10, 26),
      issuedAtMs: Number(payload.readBigUInt64BE(26)),
      expiresAtMs,
      persistent: version !== VERSION_1 && ((payload[42] as number) & PERSISTENT) !== 0,
      validAfterMs: version === VERSION ? Number(payload.readBigUInt64BE(VALID_AFTER_AT)) : null,
    };
  }

  /** The anti-CSRF token of a session: derived, so nothing has to be stored. */
  csrfToken(sessionId: string): string {
    return this.csrf.copy().update(sessionId).digest().subarray(0, 18).toString('base64url');
  }

  csrfMatches(sessionId: string, candidate: string): boolean {
    const expected = Buffer.from(this.csrfToken(sessionId));
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** The value of each base64url character, by its char code. */
const SEXTET = new Uint8Array(128);
for (const [i, c] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries())
  SEXTET[c.charCodeAt(0)] = i;

/**
 * Whether unpadded base64url text (its alphabet already checked) between
 * `start` and `end` is the one spelling of its bytes: a last group of one
 * character makes no byte (decoders drop it), and the bits the last character
 * carries beyond the bytes (4 in a group of two, 2 in a group of three) must
 * be zero. Arithmetic on one character, no re-encoding.
 */
function isCanonical(text: string, start: number, end: number): boolean {
  const group = (end - start) % 4;
  if (group === 0) return true;
  if (group === 1) return false;
  const unused = group === 2 ? 0b1111 : 0b11;
  return ((SEXTET[text.charCodeAt(end - 1)] as number) & unused) === 0;
}

/** A time in ms (a safe integer) as a big-endian uint64, without a BigInt. */
function setUint64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}

const ID_BYTES = 16;
const IDS_PER_DRAW = 256;

/**
 * 128-bit session ids, drawn from the system's CSPRNG 256 at a time: one
 * `getRandomValues` per 256 sessions instead of one each. Every id is a
 * slice of a draw no other id used, and a draw is replaced, never reused.
 */
class RandomIds {
  private pool = Buffer.alloc(0);
  private next = 0;

  /** Sixteen fresh random bytes: a view of the current draw, whose bytes never change. */
  take(): Buffer {
    if (this.next === this.pool.length) {
      this.pool = Buffer.from(crypto.getRandomValues(new Uint8Array(ID_BYTES * IDS_PER_DRAW)));
      this.next = 0;
    }
    const at = this.next;
    this.next += ID_BYTES;
    return this.pool.subarray(at, at + ID_BYTES);
  }
}
