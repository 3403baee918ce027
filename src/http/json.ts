/**
 * Reading JSON request bodies strictly: the right content type, an object at
 * the top, strings where strings are expected, bounded lengths. Every refusal
 * is a 400/415 with a message naming the field, before any RPC is made.
 */
import type { Context } from 'hono';
import { FIELD_MESSAGES, MESSAGES } from '../wire/messages.ts';
import { type FieldFault, invalidArgument as invalid, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { readAtMost } from './read-body.ts';

export type JsonObject = Record<string, unknown>;

/** A charset parameter of a media type, and its value (quoted or not). */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/gi;

/**
 * Whether every charset a Content-Type names (none at all is fine) is UTF-8,
 * or US-ASCII, whose every text is the same bytes in UTF-8 (some clients name
 * it by default).
 */
export function utf8OrNoCharset(type: string): boolean {
  for (const [, name] of type.matchAll(CHARSET)) {
    if (!/^(?:utf-?8|us-ascii|ascii)$/i.test(name ?? '')) return false;
  }
  return true;
}

/** Strict: throws a TypeError at the first invalid byte. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body as text, refusing more than `maxBytes` with 413 and invalid
 * UTF-8 with 400. With a Content-Length the size check is made before
 * reading (HTTP framing ends the body there, whatever follows); a chunked
 * body is counted while it is read and abandoned as soon as it is over.
 */
async function readText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new RpcError(Status.PAYLOAD_TOO_LARGE, `the body is over ${maxBytes} bytes`);
  const length = request.headers.get('content-length');
  if (length !== null) {
    if (!(Number(length) <= maxBytes)) throw tooLarge();
    return decodeUtf8(await request.bytes());
  }
  const bytes = await readAtMost(request, maxBytes);
  if (bytes === null) throw tooLarge();
  return decodeUtf8(bytes);
}

/**
 * Refuses what is not UTF-8 rather than reading it as U+FFFD, as
 * Request.text() would: "abc\xff" and "abc\xfe" would both become the
 * password "abc\ufffd", a value the client never sent. Reading bytes and
 * decoding costs a little more than text() (bench/RESULTS.md, "Small costs
 * quoted by the code").
 */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalid(MESSAGES.BODY_NOT_UTF8);
  }
}

/**
 * The body as a JSON object of at most `maxBytes`, with no key but `fields`:
 * a misspelt field ("nickame") would otherwise be ignored silently, and what
 * it carried lost.
 */
export async function readJsonObject(
  c: Context,
  maxBytes: number,
  fields: readonly string[],
): Promise<JsonObject> {
  const type = c.req.raw.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new RpcError(Status.UNSUPPORTED_MEDIA, MESSAGES.NOT_JSON_TYPE);
  }
  // Another charset was sent in it: reading its bytes as UTF-8 would change what it says.
  if (type.length > 16 && !utf8OrNoCharset(type)) {
    throw new RpcError(Status.UNSUPPORTED_MEDIA, MESSAGES.JSON_NOT_UTF8_CHARSET);
  }
  const text = await readText(c.req.raw, maxBytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) throw invalid(MESSAGES.BODY_NOT_JSON);
    throw err;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(MESSAGES.BODY_NOT_OBJECT);
  }
  const duplicate = duplicateKey(text, body);
  if (duplicate !== null) {
    const shown = duplicate.slice(0, 64);
    throw invalid(FIELD_MESSAGES.duplicate(shown), shown);
  }
  onlyFields(body as JsonObject, fields);
  return body as JsonObject;
}

/**
 * The first key of the top-level object that occurs twice, or null.
 * JSON.parse keeps the last value; a proxy, firewall or log reader in front
 * may keep the first, and then two programs act on different passwords.
 * Only the top level counts: a field's value must be a string, so nothing
 * nested is ever read as one.
 *
 * Cheap when there is nothing to find: every key is followed by a ':'
 * outside strings, so a text with no more ':' than the parsed object has
 * keys cannot repeat one, and the scan is skipped. A login body has two of
 * each; what counting them adds to JSON.parse is in bench/RESULTS.md
 * (bench/json-keys.ts).
 */
export function duplicateKey(text: string, body: object): string | null {
  const keys = Object.keys(body).length;
  let colons = 0;
  for (let at = text.indexOf(':'); at >= 0; at = text.indexOf(':', at + 1)) {
    if (++colons > keys) return scanTopLevelKeys(text);
  }
  return null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function oddBackslashesBefore(text: string, at: number): boolean {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === BACKSLASH) n++;
  return n % 2 === 1;
}

/** Walks valid JSON text whose top level is an object, collecting the keys at depth 1. */
function scanTopLevelKeys(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      let end = text.indexOf('"', i + 1);
      while (end > 0 && oddBackslashesBefore(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return null; // not reached for text that JSON.parse accepted
      if (depth === 1 && keyNext) {
        // "\u0075sername" is "username": compare keys as JSON.parse reads them.
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (seen.has(key)) return key;
        seen.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      keyNext = depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      keyNext = true;
    }
  }
  return null;
}

/**
 * A string field, at most `maxChars` UTF-16 units and well-formed (a lone
 * surrogate would become U+FFFD on the wire and silently change the value).
 * Missing is '' unless `required`.
 */
export function stringField(
  body: JsonObject,
  name: string,
  maxChars: number,
  required = true,
): string {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (value === undefined || value === null) {
    if (required) throw invalid(FIELD_MESSAGES.required(name), name);
    return '';
  }
  if (typeof value !== 'string') throw invalid(FIELD_MESSAGES.notString(name), name);
  if (value.length > maxChars) throw invalid(FIELD_MESSAGES.tooLong(name), name);
  if (!value.isWellFormed()) throw invalid(FIELD_MESSAGES.notUnicode(name), name);
  return value;
}

/** A boolean field that may be left out (false); anything but true, false or null is refused. */
export function booleanField(body: JsonObject, name: string): boolean {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(FIELD_MESSAGES.notBoolean(name), name);
  return value;
}

/** A boolean field that may be left out (undefined); anything but true or false is refused. */
export function optionalBooleanField(body: JsonObject, name: string): boolean | undefined {
  if (!Object.hasOwn(body, name)) return undefined;
  const value = body[name];
  if (typeof value !== 'boolean') throw invalid(FIELD_MESSAGES.notBoolean(name), name);
  return value;
}

/** A string field that may be left out: undefined when absent, else checked like stringField. */
export function optionalStringField(
  body: JsonObject,
  name: string,
  maxChars: number,
): string | undefined {
  if (!Object.hasOwn(body, name)) return undefined;
  if (body[name] === null) throw invalid(FIELD_MESSAGES.notString(name), name);
  return stringField(body, name, maxChars);
}

/**
 * Reads every field with its reader, and refuses them together: one
 * INVALID_ARGUMENT naming each field at fault (the first as its field), as
 * the TCP server names every rule broken, so that a client fixes them in one
 * go. Anything else thrown is thrown.
 */
export function readFields<T extends Record<string, () => unknown>>(
  readers: T,
): { [K in keyof T]: ReturnType<T[K]> } {
  const values: Record<string, unknown> = {};
  const faults: FieldFault[] = [];
  for (const [name, read] of Object.entries(readers)) {
    try {
      values[name] = read();
    } catch (err) {
      if (!(err instanceof RpcError) || err.field === '') throw err;
      faults.push({ field: err.field, message: err.message });
    }
  }
  const [first, ...more] = faults;
  if (first !== undefined)
    throw new RpcError(Status.INVALID_ARGUMENT, first.message, {
      field: first.field,
      moreFields: more,
    });
  return values as { [K in keyof T]: ReturnType<T[K]> };
}

/** Refuses fields the endpoint does not know, naming those it does. */
function onlyFields(body: JsonObject, allowed: readonly string[]): void {
  for (const name in body) {
    if (!allowed.includes(name)) {
      const shown = name.slice(0, 64);
      throw invalid(FIELD_MESSAGES.unknown(shown, allowed), shown);
    }
  }
}
