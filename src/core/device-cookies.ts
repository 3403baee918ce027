/**
 * Device cookies: `base64url(payload).base64url(HMAC-SHA256(key, payload))`,
 * issued at every successful login and presented at the next ones, so that
 * a browser (or API client) that has logged in before is judged by its own
 * failures rather than by the username's throttle, which anyone can trip.
 *
 * Payload (text): `d1:<user id>:<device id>:<expires-at ms>:<username>`; the
 * device id is 16 random bytes in base64url and names the device's failure
 * count. The key is derived from the first session secret (all of them
 * verify, as for session tokens), under its own label, so that a device
 * cookie can never pass for a session token or the other way round.
 *
 * A cookie has exactly one spelling (the one issue() writes): any other text
 * for the same bytes is refused, as for session tokens.
 */
import { timingSafeEqual } from 'node:crypto';

export interface DeviceClaims {
  userId: string;
  username: string;
  /** 22 characters of base64url. */
  deviceId: string;
  expiresAtMs: number;
}

/** Longer input is refused before any decoding work. */
const MAX_COOKIE_CHARS = 256;
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;
const PAYLOAD = /^d1:(\d{1,20}):([A-Za-z0-9_-]{22}):(\d{1,16}):(.+)$/;

export class DeviceCookies {
  private readonly keys: Bun.CryptoHasher[];

  constructor(
    secrets: readonly string[],
    readonly lifetimeMs: number,
  ) {
    if (secrets.length === 0) throw new Error('at least one session secret is needed');
    this.keys = secrets.map((secret) => new Bun.CryptoHasher('sha256', `device\0${secret}`));
  }

  /** A new device cookie for this user, with a new random device id. */
  issue(
    user: { id: string; username: string },
    nowMs: number,
  ): { cookie: string; expiresAtMs: number } {
    const deviceId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const expiresAtMs = nowMs + this.lifetimeMs;
    const payload = Buffer.from(`d1:${user.id}:${deviceId}:${expiresAtMs}:${user.username}`);
    const mac = (this.keys[0] as Bun.CryptoHasher).copy().update(payload).digest();
    return { cookie: `${payload.toString('base64url')}.${mac.toString('base64url')}`, expiresAtMs };
  }

  /** The claims of an authentic, unexpired device cookie; null for anything else. */
  verify(cookie: string, nowMs: number): DeviceClaims | null {
    if (cookie.length > MAX_COOKIE_CHARS || !SHAPE.test(cookie)) return null;
    const dot = cookie.indexOf('.');
    const payload = Buffer.from(cookie.slice(0, dot), 'base64url');
    const mac = Buffer.from(cookie.slice(dot + 1), 'base64url');
    // The one spelling: re-encoding must give back the text presented.
    if (payload.toString('base64url') !== cookie.slice(0, dot)) return null;
    if (mac.toString('base64url') !== cookie.slice(dot + 1)) return null;
    // Constant time, so that the comparison leaks nothing about the right MAC.
    const authentic = this.keys.some((key) => {
      const expected = key.copy().update(payload).digest();
      return timingSafeEqual(mac, expected);
    });
    if (!authentic) return null;
    const match = PAYLOAD.exec(payload.toString('latin1'));
    if (match === null) return null;
    const [, userId = '', deviceId = '', expires = '0', username = ''] = match;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= nowMs) return null;
    return { userId, username, deviceId, expiresAtMs };
  }
}
