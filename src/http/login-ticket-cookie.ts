/**
 * The cookie that carries a login from the password to the code on the
 * pages: the ticket the TCP server issued for a correct password
 * (core/login-tickets.ts), the anti-CSRF token of the code's form, and the
 * username and "keep me logged in" as typed, to fill the login form in again
 * when the ticket has expired (they were lost: a browser audit). HttpOnly,
 * SameSite=Strict (only this site's own forms need it), Path=/, for the
 * ticket's few minutes and KEPT_S more (the ticket in it is refused then, and
 * the form is filled in; the code's page, knowing when the ticket ends, sends
 * the browser back at once), and over HTTPS Secure with the __Host- prefix.
 * It never holds the password. The form carries the token again,
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
/** How long the cookie outlives its ticket, to fill the login form in again. */
const KEPT_S = 15 * 60;
/** A username as the form may be filled in with; anything else is left out. */
const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;

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
  /** As typed on the login form ('' when it was not a username), for filling it in again. */
  username: string;
  remember: boolean;
  /** When the ticket ends (Unix ms; 0 when not known), for the page: the TCP server decides. */
  expiresAtMs: number;
}

export function setLoginStep(
  c: Context,
  step: Omit<LoginStep, 'username' | 'remember' | 'expiresAtMs'> & { expiresAtMs: bigint },
  https: boolean,
  typed: { username: string; remember: boolean },
): void {
  const ticketS = Math.max(0, Math.floor((Number(step.expiresAtMs) - Date.now()) / 1000));
  const username = USERNAME.test(typed.username.trim()) ? typed.username.trim() : '';
  const ends = String(step.expiresAtMs);
  const value = [step.csrfToken, step.ticket, username, typed.remember ? '1' : '', ends];
  setCookie(c, NAME, value.join(SEPARATOR), { ...options(https), maxAge: ticketS + KEPT_S });
}

/** The login waiting for its code in this browser; null when there is none. */
export function readLoginStep(c: Context, https: boolean): LoginStep | null {
  const raw = https ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
  if (raw === undefined || raw.length > MAX_CHARS) return null;
  // Two parts as an older build set it; five since the typed values and the end ride along.
  const [csrfToken = '', ticket = '', username = '', remember = '', ends = ''] =
    raw.split(SEPARATOR);
  if (csrfToken === '' || ticket === '') return null;
  return {
    csrfToken,
    ticket,
    username: USERNAME.test(username) ? username : '',
    remember: remember === '1',
    expiresAtMs: /^\d{1,16}$/.test(ends) ? Number(ends) : 0,
  };
}

export function clearLoginStep(c: Context, https: boolean): void {
  deleteCookie(c, NAME, options(https));
}
