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
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

export interface Flash {
  notice?: string;
  error?: string;
  /** Message per form field. */
  fields?: Record<string, string>;
  /** Values to put back in the form. */
  values?: Record<string, string>;
}

const NAME = 'flash';
const MAX_VALUE_CHARS = 200;
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

export function setFlash(c: Context, flash: Flash, https: boolean): void {
  const values = Object.fromEntries(
    Object.entries(flash.values ?? {}).map(([k, v]) => [
      k,
      [...v].slice(0, MAX_VALUE_CHARS).join(''),
    ]),
  );
  let encoded = encode({ ...flash, values });
  if (encoded.length > MAX_COOKIE_CHARS) encoded = encode({ ...flash, values: {} });
  if (encoded.length > MAX_COOKIE_CHARS) return;
  setCookie(c, NAME, encoded, { ...options(https), maxAge: 60 });
}

/** The flash for this page, if any; clears it. */
export function takeFlash(c: Context, https: boolean): Flash {
  const raw = https ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
  if (raw === undefined) return {};
  deleteCookie(c, NAME, options(https));
  try {
    return sanitize(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    return {};
  }
}

function encode(flash: Flash): string {
  return Buffer.from(JSON.stringify(flash), 'utf8').toString('base64url');
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
