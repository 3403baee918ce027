/**
 * Device cookies: `base64url(payload).base64url(HMAC-SHA256(key, payload))`,
 * issued at every successful login and presented at the next ones, so that
 * a browser (or API client) that has logged in before is judged by its own
 * failures rather than by the username's throttle, which anyone can trip.
 *
 * Payload (text):
 * `d2:<user id>:<device id>:<issued-at ms>:<expires-at ms>:<username>`;
 * the device id is 16 random bytes in base64url and names the device's
 * failure count. The issue time lets a password change or "log out
 * everywhere" end the user's device cookies with their sessions (accounts.ts
 * compares it with sessions_valid_after). A `d1` cookie, which had none, is
 * refused: its holder logs in as a stranger once and gets a `d2`. The key is
 * derived from the first session secret (all of them verify, as for session
 * tokens), under its own label, so that a device cookie can never pass for a
 * session token or the other way round.
 *
 * A cookie has exactly one spelling (the one issue() writes): any other text
 * for the same bytes is refused, as for session tokens (signed-text.ts).
 */
import { SignedText } from './signed-text.ts';

export interface DeviceClaims {
  userId: string;
  username: string;
  /** 22 characters of base64url. */
  deviceId: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** Longer input is refused before any decoding work. */
const MAX_COOKIE_CHARS = 256;
const PAYLOAD = /^d2:(\d{1,20}):([A-Za-z0-9_-]{22}):(\d{1,16}):(\d{1,16}):(.+)$/;

export class DeviceCookies {
  private readonly signed: SignedText;

  constructor(
    secrets: readonly string[],
    readonly lifetimeMs: number,
  ) {
    this.signed = new SignedText(secrets, 'device', MAX_COOKIE_CHARS);
  }

  /** A new device cookie for this user, with a new random device id. */
  issue(
    user: { id: string; username: string },
    nowMs: number,
  ): { cookie: string; expiresAtMs: number } {
    const deviceId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const expiresAtMs = nowMs + this.lifetimeMs;
    const payload = `d2:${user.id}:${deviceId}:${nowMs}:${expiresAtMs}:${user.username}`;
    const cookie = this.signed.sign(payload);
    return { cookie, expiresAtMs };
  }

  /** The claims of an authentic, unexpired device cookie; null for anything else. */
  verify(cookie: string, nowMs: number): DeviceClaims | null {
    const payload = this.signed.open(cookie);
    const match = payload === null ? null : PAYLOAD.exec(payload);
    if (match === null) return null;
    const [, userId = '', deviceId = '', issued = '0', expires = '0', username = ''] = match;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= nowMs) return null;
    return { userId, username, deviceId, issuedAtMs: Number(issued), expiresAtMs };
  }
}
