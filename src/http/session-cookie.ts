/**
 * The session cookie: HttpOnly, SameSite=Lax, Path=/, and over HTTPS also
 * Secure with the __Host- prefix (no Domain, so no sibling host can set or
 * read it). Over HTTPS only the prefixed cookie is read (client-request.ts).
 */
import type { Context } from 'hono';

/** Read by ClientRequest.sessionToken. */
export const SESSION_COOKIE = 'session';

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
    ? `__Host-${SESSION_COOKIE}=${value}; ${attributes}; Secure`
    : `${SESSION_COOKIE}=${value}; ${attributes}`;
}
