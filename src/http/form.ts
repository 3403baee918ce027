/**
 * Reading HTML form posts (urlencoded or multipart) strictly: a body that
 * does not parse, a field sent as a file, an over-long or malformed value are
 * 400s with a message, never a 500. Size limits are enforced before, while
 * the body is read (hono/body-limit).
 */
import type { Context } from 'hono';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

export type FormBody = Record<string, string | File | (string | File)[]>;

function invalid(message: string, field = ''): RpcError {
  return new RpcError(Status.INVALID_ARGUMENT, message, { field });
}

export async function readForm(c: Context): Promise<FormBody> {
  const type = c.req.header('content-type') ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\s*(;|$)/i.test(type)) {
    throw new RpcError(
      Status.UNSUPPORTED_MEDIA,
      'send the form as application/x-www-form-urlencoded or multipart/form-data',
    );
  }
  try {
    return (await c.req.parseBody({ all: true })) as FormBody;
  } catch (err) {
    // Bun's form parser throws TypeError on a malformed body or boundary.
    if (err instanceof TypeError || err instanceof SyntaxError)
      throw invalid('the form could not be read: the body is malformed');
    throw err;
  }
}

/** A text field: '' when missing, the first value when sent several times. */
export function formText(body: FormBody, name: string, maxChars: number): string {
  const raw = body[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid(`${name} must be text, not a file`, name);
  if (value.length > maxChars) throw invalid(`${name} is too long`, name);
  if (!value.isWellFormed()) throw invalid(`${name} must be valid Unicode text`, name);
  return value;
}

/** A file field, or null when none was chosen (browsers then send an empty file). */
export function formFile(body: FormBody, name: string): File | null {
  const raw = body[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '') return null;
  if (typeof value === 'string') throw invalid(`${name} must be a file`, name);
  return value.size === 0 ? null : value;
}
