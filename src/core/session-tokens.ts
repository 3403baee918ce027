/**
 * Session tokens: `base64url(payload).base64url(HMAC-SHA256(secret[kid], payload))`.
 *
 * Payload (binary, big-endian): version 1 (1 byte), key id (1), user id (8),
 * session id (16 random bytes), issued-at ms (8), expires-at ms (8), username
 * length (1) and username (ASCII). Logging in writes nothing anywhere: the
 * token carries what is needed to check it. The username lets the check use
 * the same cache entry as login; the user id guards against a username that
 * was deleted and registered again by someone else.
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
  issuedAtMs: number;
  expiresAtMs: number;
}

const VERSION = 1;
const FIXED_BYTES = 1 + 1 + 8 + 16 + 8 + 8 + 1;
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

  constructor(
    secrets: readonly string[],
    readonly lifetimeMs: number,
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
  }

  /** A new session for this user, issued at `issuedAtMs`. */
  issue(
    user: { id: string; username: string },
    issuedAtMs: number,
  ): { token: string; claims: SessionClaims } {
    const sessionBytes = crypto.getRandomValues(new Uint8Array(16));
    const claims: SessionClaims = {
      userId: user.id,
      username: user.username,
      sessionId: Buffer.from(sessionBytes).toString('base64url'),
      issuedAtMs,
      expiresAtMs: issuedAtMs + this.lifetimeMs,
    };
    const key = this.keys[0] as Key;
    const payload = new Uint8Array(FIXED_BYTES + user.username.length);
    const view = new DataView(payload.buffer);
    view.setUint8(0, VERSION);
    view.setUint8(1, key.kid);
    view.setBigUint64(2, BigInt(user.id));
    payload.set(sessionBytes, 10);
    view.setBigUint64(26, BigInt(issuedAtMs));
    view.setBigUint64(34, BigInt(claims.expiresAtMs));
    view.setUint8(42, user.username.length);
    for (let i = 0; i < user.username.length; i++)
      payload[FIXED_BYTES + i] = user.username.charCodeAt(i) & 0x7f;
    const mac = key.hmac.copy().update(payload).digest();
    return { token: `${toBase64url(payload)}.${toBase64url(mac)}`, claims };
  }

  /** The claims of an authentic, unexpired token; null for anything else. */
  verify(token: string, nowMs: number): SessionClaims | null {
    if (token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return null;
    const dot = token.indexOf('.');
    if (!isCanonical(token, 0, dot) || !isCanonical(token, dot + 1, token.length)) return null;
    const payload = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    if (payload.length < FIXED_BYTES || payload[0] !== VERSION) return null;
    const key = this.keys.find((k) => k.kid === payload[1]);
    if (key === undefined) return null;
    const expected = key.hmac.copy().update(payload).digest();
    // Constant time, so that the comparison leaks nothing about the right MAC.
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return null;
    const usernameLength = payload[42] as number;
    if (payload.length !== FIXED_BYTES + usernameLength) return null;
    const expiresAtMs = Number(payload.readBigUInt64BE(34));
    if (expiresAtMs <= nowMs) return null;
    return {
      userId: payload.readBigUInt64BE(2).toString(),
      username: payload.toString('latin1', FIXED_BYTES),
      sessionId: payload.toString('base64url', 10, 26),
      issuedAtMs: Number(payload.readBigUInt64BE(26)),
      expiresAtMs,
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

function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
