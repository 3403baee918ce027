/**
 * Device cookies: `base64url(payload).base64url(HMAC-SHA256(key, payload))`,
 * issued at every successful login and presented at the next ones, so that
 * a browser (or API client) that has logged in before is judged by its own
 * failures rather than by the username's throttle, which anyone can trip.
 *
 * Payload (text):
 * `d3:<user id>:<device id>:<password mark>:<expires-at ms>:<username>`, or
 * `d4:…` for a cookie earned by a login that passed the second step (a code of
 * two-step login): such a device has shown the code once, and its codes are
 * counted against itself alone, not against the user's count of codes, which
 * someone who knows only the password can run up (accounts.ts);
 * the device id is 16 random bytes in base64url and names the device's
 * failure count. The password mark (passwordMark) ties the cookie to the
 * password it was earned with: a cookie proves that its holder knew the
 * password, so after a password change it proves nothing, and accounts.ts
 * takes it only while the user's hash is the one it was issued under.
 * "Log out everywhere" leaves device cookies alone: their holders know the
 * password anyway. Older cookies (`d1`, `d2`) are refused: their holders log
 * in as strangers once and get a `d3`. The key is derived from the first
 * session secret (all of them verify, as for session tokens), under its own
 * label, so that a device cookie can never pass for a session token or the
 * other way round.
 *
 * A cookie has exactly one spelling (the one issue() writes): any other text
 * for the same bytes is refused, as for session tokens (signed-text.ts).
 */
import { createHash } from 'node:crypto';
import { SignedText } from './signed-text.ts';

export interface DeviceClaims {
  userId: string;
  username: string;
  /** 22 characters of base64url. */
  deviceId: string;
  /** passwordMark of the hash the user had when the cookie was issued. */
  passwordMark: string;
  expiresAtMs: number;
  /** Earned by a login that passed the second step (`d4`). */
  secondStep: boolean;
}

/** A device cookie to give the client, and when it expires. */
export interface DeviceCookie {
  cookie: string;
  expiresAtMs: number;
}

/** Longer input is refused before any decoding work. */
const MAX_COOKIE_CHARS = 256;
const PAYLOAD = /^d([34]):(\d{1,20}):([A-Za-z0-9_-]{22}):([A-Za-z0-9_-]{12}):(\d{1,16}):(.+)$/;

/**
 * 72 bits of SHA-256 of a stored password hash, in base64url: tells one hash
 * from the next. It says nothing usable about the password: the hash is
 * salted, and the cookie's holder earned it by knowing that password.
 */
export function passwordMark(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest().subarray(0, 9).toString('base64url');
}

export class DeviceCookies {
  private readonly signed: SignedText;

  constructor(
    secrets: readonly string[],
    readonly lifetimeMs: number,
  ) {
    this.signed = new SignedText(secrets, 'device', MAX_COOKIE_CHARS);
  }

  /**
   * A new device cookie for this user and its current password, with a new random
   * device id; `secondStep` when the login that earns it passed a code.
   */
  issue(
    user: { id: string; username: string; passwordHash: string },
    nowMs: number,
    secondStep = false,
  ): DeviceCookie {
    const deviceId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const expiresAtMs = nowMs + this.lifetimeMs;
    const mark = passwordMark(user.passwordHash);
    const version = secondStep ? 'd4' : 'd3';
    const payload = `${version}:${user.id}:${deviceId}:${mark}:${expiresAtMs}:${user.username}`;
    const cookie = this.signed.sign(payload);
    return { cookie, expiresAtMs };
  }

  /** The claims of an authentic, unexpired device cookie; null for anything else. */
  verify(cookie: string, nowMs: number): DeviceClaims | null {
    const payload = this.signed.open(cookie);
    const match = payload === null ? null : PAYLOAD.exec(payload);
    if (match === null) return null;
    const [, version, userId = '', deviceId = '', mark = '', expires = '0', username = ''] = match;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= nowMs) return null;
    return {
      userId,
      username,
      deviceId,
      passwordMark: mark,
      expiresAtMs,
      secondStep: version === '4',
    };
  }
}
