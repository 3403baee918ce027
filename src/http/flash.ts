/**
 * Messages carried across a POST-redirect-GET: the form handler stores what
 * the next page should say (an error per field, a notice, the values to
 * keep) in a short-lived cookie, and the page shows it once and clears it.
 *
 * The cookie is HttpOnly, SameSite=Lax, lives a minute, and over HTTPS has
 * the __Host- prefix (no other host can set it). It holds text only, always
 * rendered escaped; passwords are never put in it. Anything that does not
 * parse is ignored.
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { ACCOUNT_RULES } from '../wire/account-rules.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { AppEnv } from './env.ts';
import { closeConnection } from './errors.tsx';
import { messageForPeople, OUTAGE, tryAgainIn } from './for-people.ts';

export interface Flash {
  notice?: string;
  error?: string;
  /** Message per form field. */
  fields?: Record<string, string>;
  /** Values to put back in the form. */
  values?: Record<string, string>;
}

const NAME = 'flash';
/**
 * Code points of a value put back in a form: every value a rule allows (the
 * nickname's 256 the longest) comes back whole; 200 cut a valid nickname of
 * family emoji inside a character, which was then refused for the joiner it
 * ended with (a review).
 */
const MAX_VALUE_CHARS = ACCOUNT_RULES.nickname.maxCodePoints;
/** Browsers keep at least 4096 bytes per cookie, name and attributes included. */
const MAX_COOKIE_CHARS = 3000;

function options(https: boolean) {
  return {
    httpOnly: true,
    sameSite: 'Lax' as const,
    path: '/',
    ...(https ? { secure: true, prefix: 'host' as const } : {}),
  };
}

/** Answers a form post with 303 to `to` (POST-redirect-GET), carrying `flash`. */
export function redirectWithFlash(c: Context<AppEnv>, to: string, flash: Flash) {
  setFlash(c, flash, c.get('client').https);
  return c.redirect(to, 303);
}

/**
 * hono/body-limit for a form post: a body over `maxSize` is answered by a
 * redirect to `to` (default: the form's own page) with `flash`, and the
 * connection is closed (errors.tsx).
 */
export function formBodyLimit(maxSize: number, flash: Flash, to?: string) {
  return bodyLimit({
    maxSize,
    onError: (c) => {
      closeConnection(c);
      return redirectWithFlash(c, to ?? c.req.path, flash);
    },
  });
}

/** Values as a form may get them back: each cut to MAX_VALUE_CHARS code points. */
function capped(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, [...v].slice(0, MAX_VALUE_CHARS).join('')]),
  );
}

function setFlash(c: Context, flash: Flash, https: boolean): void {
  const values = capped(flash.values ?? {});
  let encoded = encode({ ...flash, values });
  if (encoded.length > MAX_COOKIE_CHARS) encoded = encode({ ...flash, values: {} });
  if (encoded.length > MAX_COOKIE_CHARS) return;
  setCookie(c, NAME, encoded, { ...options(https), maxAge: 60 });
}

const KEPT = 'kept';
/** How long what was typed into a form whose session had ended waits for the next login. */
const KEPT_S = 15 * 60;

/**
 * Keeps `values` typed into a profile form whose session had ended, for the profile
 * page after the next login of the same user (`owner`, the ended session's username
 * key): it was lost, and the person typed it again (a browser audit). Never passwords.
 * Another user logging in on this browser gets nothing of it (takeKept).
 */
export function keepForLater(c: Context<AppEnv>, owner: string, values: Record<string, string>) {
  const encoded = encode({ owner, values: capped(values) });
  if (encoded.length > MAX_COOKIE_CHARS) return;
  setCookie(c, KEPT, encoded, { ...options(c.get('client').https), maxAge: KEPT_S });
}

/** What keepForLater kept for `owner`, once (cleared whoever asks); {} for anyone else. */
export function takeKept(c: Context<AppEnv>, owner: string | undefined): Record<string, string> {
  const https = c.get('client').https;
  const raw = https ? getCookie(c, KEPT, 'host') : getCookie(c, KEPT);
  if (raw === undefined) return {};
  deleteCookie(c, KEPT, options(https));
  try {
    const kept = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    const mine = owner !== undefined && (kept as { owner?: unknown } | null)?.owner === owner;
    return mine ? (sanitize(kept).values ?? {}) : {};
  } catch {
    return {};
  }
}

/** The flash for this page, if any; clears it. */
export function takeFlash(c: Context<AppEnv>): Flash {
  const https = c.get('client').https;
  const raw = https ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
  if (raw === undefined) return {};
  deleteCookie(c, NAME, options(https));
  try {
    return sanitize(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    return {};
  }
}

/** A cookie's value: JSON in base64url. */
function encode(value: Flash | { owner: string; values: Record<string, string> }): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Only the expected shape, only strings. */
function sanitize(value: unknown): Flash {
  if (value === null || typeof value !== 'object') return {};
  const input = value as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const record = (v: unknown) =>
    v !== null && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v).filter(([, s]) => typeof s === 'string'))
      : {};
  const flash: Flash = { fields: record(input.fields), values: record(input.values) };
  const notice = text(input.notice);
  const error = text(input.error);
  if (notice !== undefined) flash.notice = notice;
  if (error !== undefined) flash.error = error;
  return flash;
}

/** Statuses a form shows to the person filling it in, who can then fix the input or retry. */
const SHOWN_ON_FORM = new Set([
  Status.INVALID_ARGUMENT,
  Status.ALREADY_EXISTS,
  Status.UNSUPPORTED_MEDIA,
  Status.RESOURCE_EXHAUSTED,
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
]);

/**
 * The flash for an error a form can show, or null when it needs an error
 * page. The message goes next to the field the TCP server named, else next
 * to `defaultField` (a form with one field), else at the top of the form.
 */
export function formFlash(
  err: unknown,
  values: Record<string, string> = {},
  defaultField = '',
): Flash | null {
  if (!(err instanceof RpcError) || !SHOWN_ON_FORM.has(err.code)) return null;
  // An outage is nothing the person typed: told above the form, what they typed kept.
  if (OUTAGE.has(err.code)) return { error: messageForPeople(err), values };
  const message =
    err.retryAfterS > 0 ? `${err.message}: ${tryAgainIn(err.retryAfterS)}` : err.message;
  const field = err.field || defaultField;
  if (!field) return { error: message, values };
  const fields: Record<string, string> = { [field]: message };
  for (const fault of err.moreFields) fields[fault.field] = fault.message;
  return { fields, values };
}
