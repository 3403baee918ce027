/**
 * The session cookie: HttpOnly, SameSite=Lax, Path=/, and over HTTPS also
 * Secure with the __Host- prefix (no Domain, so no sibling host can set or
 * read it). Over HTTPS only the prefixed cookie is read.
 */
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';

const NAME = 'session';

/** HTTPS directly, or via a trusted proxy's X-Forwarded-Proto. */
export function isHttps(c: Context, trustProxy: boolean): boolean {
  if (c.req.url.startsWith('https:')) return true;
  return trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

/** Sets the session cookie. Tokens are base64url and '.', so the value needs no encoding. */
export function setSessionCookie(
  c: Context,
  token: string,
  expiresAtMs: number,
  https: boolean,
): void {
  const maxAge = Math.max(0, Math.floor((expiresAtMs - Date.now()) / 1000));
  c.header('Set-Cookie', cookie(token, maxAge, https), { append: true });
}

export function clearSessionCookie(c: Context, https: boolean): void {
  c.header('Set-Cookie', cookie('', 0, https), { append: true });
}

function cookie(value: string, maxAge: number, https: boolean): string {
  const attributes = `Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax`;
  return https
    ? `__Host-${NAME}=${value}; ${attributes}; Secure`
    : `${NAME}=${value}; ${attributes}`;
}

/** The session token from `Authorization: Bearer`, else from the cookie; '' when neither. */
export function sessionToken(c: Context, https: boolean): { token: string; fromCookie: boolean } {
  const authorization = c.req.header('authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return { token: match?.[1] ?? '', fromCookie: false };
  }
  const cookie = https ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
  return { token: cookie ?? '', fromCookie: cookie !== undefined };
}
