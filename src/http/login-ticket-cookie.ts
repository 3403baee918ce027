/**
 * The cookie that carries a login from the password to the code on the
 * pages: the ticket the TCP server issued for a correct password
 * (core/login-tickets.ts), and the anti-CSRF token of the code's form.
 * HttpOnly, SameSite=Strict (only this site's own forms need it), Path=/,
 * for the ticket's few minutes, and over HTTPS Secure with the __Host-
 * prefix. It never holds the password. The form carries the token again,
 * and the TCP server checks that it belongs to the ticket: a page of
 * another site can neither read this cookie nor make a browser send it.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

const NAME = 'login-step';
/** Tickets and tokens are base64url and '.': the separator is neither. */
const SEPARATOR = '~';
/** Longer values are not ours. */
const MAX_CHARS = 512;

function options(https: boolean) {
  return {
    httpOnly: true,
    sameSite: 'Strict' as const,
    path: '/',
    ...(https ? { secure: true, prefix: 'host' as const } : {}),
  };
}

export interface LoginStep {
  ticket: string;
  csrfToken: string;
}

export function setLoginStep(
  c: Context,
  step: LoginStep & { expiresAtMs: bigint },
  https: boolean,
): void {
  const maxAge = Math.max(0, Math.floor((Number(step.expiresAtMs) - Date.now()) / 1000));
  setCookie(c, NAME, `${step.csrfToken}${SEPARATOR}${step.ticket}`, {
    ...options(https),
    maxAge,
  });
}

/** The login waiting for its code in this browser; null when there is none. */
export function readLoginStep(c: Context, https: boolean): LoginStep | null {
  const raw = https ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
  if (raw === undefined || raw.length > MAX_CHARS) return null;
  const at = raw.indexOf(SEPARATOR);
  if (at <= 0 || at === raw.length - 1) return null;
  return { csrfToken: raw.slice(0, at), ticket: raw.slice(at + 1) };
}

export function clearLoginStep(c: Context, https: boolean): void {
  deleteCookie(c, NAME, options(https));
}
