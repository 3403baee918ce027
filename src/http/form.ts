/**
 * Reading HTML form posts (urlencoded or multipart) strictly: a body that
 * does not parse or is not UTF-8, a field sent as a file, an over-long or
 * malformed value are 400s with a message, never a 500. Size limits are
 * enforced before, while the body is read (hono/body-limit).
 */
import type { Context } from 'hono';
import { FIELD_MESSAGES, MESSAGES } from '../wire/messages.ts';
import { invalidArgument as invalid, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

/** A form's fields by name, each sent once; no prototype, so `__proto__` is a name like any other. */
export type FormBody = Record<string, string | File>;

export async function readForm(c: Context): Promise<FormBody> {
  const type = c.req.header('content-type') ?? '';
  if (/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    return parseUrlencoded(await c.req.arrayBuffer());
  }
  if (!/^multipart\/form-data\s*(;|$)/i.test(type)) {
    throw new RpcError(Status.UNSUPPORTED_MEDIA, MESSAGES.NOT_FORM_TYPE);
  }
  let data: FormData;
  try {
    data = await c.req.raw.formData();
  } catch (err) {
    // Bun's form parser throws TypeError on a malformed body or boundary.
    if (err instanceof TypeError || err instanceof SyntaxError)
      throw invalid(MESSAGES.FORM_MALFORMED);
    throw err;
  }
  const body = fields(data.entries());
  // Bun decodes a text part with U+FFFD for invalid bytes, and its bytes
  // are gone: a U+FFFD in one is taken for what it almost always is. (A
  // browser sends one only if someone typed it, and this app's one
  // multipart form, the picture's, has no text field but its token.)
  for (const value of Object.values(body)) {
    if (typeof value === 'string' && value.includes('\uFFFD')) throw notUtf8();
  }
  return body;
}

/**
 * The fields by name, each name once: no form of these pages sends a name twice, and
 * which of two values counted was the parser's choice (an attack audit sent two
 * nicknames and a picture twice). Kept without a prototype: a field named `__proto__`
 * made `{}` take an array as its prototype.
 */
function fields(entries: Iterable<[string, string | File]>): FormBody {
  const body: FormBody = Object.create(null);
  for (const [name, value] of entries) {
    if (Object.hasOwn(body, name)) throw invalid(MESSAGES.FORM_FIELD_TWICE);
    body[name] = value;
  }
  return body;
}

const notUtf8 = () => invalid(MESSAGES.FORM_NOT_UTF8);
/** Strict: throws a TypeError at the first invalid byte. */
const utf8 = new TextDecoder('utf-8', { fatal: true });
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * application/x-www-form-urlencoded as the URL standard parses it, except
 * that bytes which are not UTF-8, raw or percent-encoded, are refused
 * instead of read as U+FFFD (as URLSearchParams and formData() do): the
 * password 'abc%FF' would otherwise be stored as 'abc\uFFFD', a value the
 * client never sent. A name sent twice is refused (fields, below).
 */
function parseUrlencoded(buffer: ArrayBuffer): FormBody {
  let text: string;
  try {
    text = utf8.decode(buffer);
  } catch {
    throw notUtf8();
  }
  const pairs: [string, string][] = [];
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeComponent(equals < 0 ? pair : pair.slice(0, equals));
    pairs.push([name, equals < 0 ? '' : decodeComponent(pair.slice(equals + 1))]);
  }
  return fields(pairs);
}

/** '+' is a space; each run of %XX escapes is UTF-8 (a '%' not followed by two hex digits is itself). */
function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return spaced.replace(ESCAPES, (run) => decodeURIComponent(run));
  } catch {
    // decodeURIComponent throws URIError for escapes that are not UTF-8.
    throw notUtf8();
  }
}

/** A text field: '' when missing. */
export function formText(body: FormBody, name: string, maxChars: number): string {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid(FIELD_MESSAGES.notText(name), name);
  if (value.length > maxChars) throw invalid(FIELD_MESSAGES.tooLong(name), name);
  if (!value.isWellFormed()) throw invalid(FIELD_MESSAGES.notUnicode(name), name);
  return value;
}

/**
 * A file field, or null when none was chosen (browsers then send an empty
 * file without a name). A chosen file that is empty is returned, for the
 * TCP server to say so: "choose a picture" read as if none had been chosen.
 */
export function formFile(body: FormBody, name: string): File | null {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (value === undefined || value === '') return null;
  if (typeof value === 'string') throw invalid(FIELD_MESSAGES.notFile(name), name);
  return value.size === 0 && !value.name ? null : value; // Bun leaves an empty name undefined
}
