/**
 * The session cookie and the device cookie: HttpOnly, SameSite=Lax, Path=/,
 * and over HTTPS also Secure with the __Host- prefix (no Domain, so no
 * sibling host can set or read them). Over HTTPS only the prefixed cookies
 * are read (client-request.ts). The device cookie outlives the session: it
 * tells the TCP server that this browser has logged in as that user before
 * (core/device-cookies.ts), and logging out leaves it in place.
 */
import type { Context } from 'hono';

/** Read by ClientRequest.sessionToken. */
export const SESSION_COOKIE = 'session';
/** Read by ClientRequest.deviceCookie. */
export const DEVICE_COOKIE = 'device';

/** Sets the session cookie. Tokens are base64url and '.', so the value needs no encoding. */
export function setSessionCookie(
  c: Context,
  token: string,
  expiresAtMs: number,
  https: boolean,
): void {
  c.header('Set-Cookie', cookie(SESSION_COOKIE, token, maxAgeS(expiresAtMs), https), {
    append: true,
  });
}

/** Both cookies of a successful login (the device cookie when the TCP server issued one). */
export function setLoginCookies(
  c: Context,
  login: {
    token: string;
    expiresAtMs: bigint;
    deviceCookie: string;
    deviceCookieExpiresAtMs: bigint;
  },
  https: boolean,
): void {
  setSessionCookie(c, login.token, Number(login.expiresAtMs), https);
  if (!login.deviceCookie) return; // none issued (or an older TCP server)
  const maxAge = maxAgeS(Number(login.deviceCookieExpiresAtMs));
  c.header('Set-Cookie', cookie(DEVICE_COOKIE, login.deviceCookie, maxAge, https), {
    append: true,
  });
}

export function clearSessionCookie(c: Context, https: boolean): void {
  c.header('Set-Cookie', cookie(SESSION_COOKIE, '', 0, https), { append: true });
}

function maxAgeS(expiresAtMs: number): number {
  return Math.max(0, Math.floor((expiresAtMs - Date.now()) / 1000));
}

function cookie(name: string, value: string, maxAge: number, https: boolean): string {
  const attributes = `Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax`;
  return https
    ? `__Host-${name}=${value}; ${attributes}; Secure`
    : `${name}=${value}; ${attributes}`;
}
