/**
 * The session cookie and the device cookie: HttpOnly, SameSite=Lax, Path=/,
 * and over HTTPS also Secure with the __Host- prefix (no Domain, so no
 * sibling host can set or read them). Over HTTPS only the prefixed cookies
 * are read (client-request.ts). The device cookie outlives the session: it
 * tells the TCP server that this browser has logged in as that user before
 * (core/device-cookies.ts), and logging out leaves it in place.
 *
 * The session cookie of a "keep me logged in" session has a Max-Age (the
 * token's remaining life); any other has none, so the browser drops it when
 * its session ends, and the token's own short lifetime bounds browsers that
 * restore their sessions. A renewed token (GetProfile) replaces the cookie
 * the same way: sliding expiry.
 */
import type { Context } from 'hono';

/** Read by ClientRequest.sessionToken. */
export const SESSION_COOKIE = 'session';
/** Read by ClientRequest.deviceCookie. */
export const DEVICE_COOKIE = 'device';

/** A session as the TCP server hands it out (login, password change, renewal). */
export interface SessionForCookie {
  token: string;
  expiresAtMs: bigint;
  /** "Keep me logged in": the cookie outlives the browser session. */
  persistent: boolean;
}

/** Sets the session cookie. Tokens are base64url and '.', so the value needs no encoding. */
export function setSessionCookie(c: Context, session: SessionForCookie, https: boolean): void {
  const maxAge = session.persistent ? maxAgeS(Number(session.expiresAtMs)) : null;
  c.header('Set-Cookie', cookie(SESSION_COOKIE, session.token, maxAge, https), {
    append: true,
  });
}

/** A device cookie the TCP server issued (with a login, a password change, "log out everywhere"). */
interface DeviceForCookie {
  deviceCookie: string;
  deviceCookieExpiresAtMs: bigint;
}

/** Both cookies of a successful login (the device cookie when the TCP server issued one). */
export function setLoginCookies(
  c: Context,
  login: SessionForCookie & DeviceForCookie,
  https: boolean,
): void {
  setSessionCookie(c, login, https);
  setDeviceCookie(c, login, https);
}

/** The device cookie, when the TCP server issued one (an older one issues none). */
export function setDeviceCookie(c: Context, device: DeviceForCookie, https: boolean): void {
  if (!device.deviceCookie) return;
  const maxAge = maxAgeS(Number(device.deviceCookieExpiresAtMs));
  c.header('Set-Cookie', cookie(DEVICE_COOKIE, device.deviceCookie, maxAge, https), {
    append: true,
  });
}

export function clearSessionCookie(c: Context, https: boolean): void {
  c.header('Set-Cookie', cookie(SESSION_COOKIE, '', 0, https), { append: true });
}

function maxAgeS(expiresAtMs: number): number {
  return Math.max(0, Math.floor((expiresAtMs - Date.now()) / 1000));
}

/** A cookie for `maxAge` seconds, or with null for the browser session. */
function cookie(name: string, value: string, maxAge: number | null, https: boolean): string {
  const lifetime = maxAge === null ? '' : `Max-Age=${maxAge}; `;
  const attributes = `${lifetime}Path=/; HttpOnly; SameSite=Lax`;
  return https
    ? `__Host-${name}=${value}; ${attributes}; Secure`
    : `${name}=${value}; ${attributes}`;
}
