import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { codeToHttpStatus, Status, statusName } from '../wire/status.ts';

/** The JSON body of every API error: `{"error":{"code":"NOT_FOUND","message":"..."}}`. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** Maps HTTP statuses raised by Hono itself back to the shared codes. */
function codeForHttpStatus(status: number): Status {
  if (status === 401) return Status.UNAUTHENTICATED;
  if (status === 403) return Status.PERMISSION_DENIED;
  if (status === 404) return Status.NOT_FOUND;
  if (status === 415) return Status.UNSUPPORTED_MEDIA;
  if (status === 429) return Status.RESOURCE_EXHAUSTED;
  if (status === 503) return Status.UNAVAILABLE;
  if (status >= 500) return Status.INTERNAL;
  return Status.INVALID_ARGUMENT;
}

/**
 * After refusing a body for its size: a chunked body may never end, so the
 * connection is closed after the answer instead of Bun reading the rest.
 * A body with a Content-Length is left for Bun to drain (at most
 * MAX_FRAME_BYTES): closing while a client is still sending it resets the
 * connection, and a browser then shows a network error, not the answer.
 */
export function closeConnection(c: Context): void {
  if (c.req.header('content-length') === undefined) c.header('Connection', 'close');
}

export function errorJson(c: Context, status: number, code: string, message: string, field = '') {
  const body: ErrorBody = { error: { code, message } };
  if (field) body.error.field = field;
  return c.json(body, status as ContentfulStatusCode);
}

/** The one place where errors become HTTP responses (`app.onError`). */
export function createErrorHandler(log: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof RpcError) {
      if (err.retryAfterS > 0) c.header('Retry-After', String(err.retryAfterS));
      return errorJson(c, codeToHttpStatus(err.code), statusName(err.code), err.message, err.field);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status === 413) closeConnection(c);
      const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : statusName(codeForHttpStatus(status));
      return errorJson(c, status, code, err.message || 'request rejected');
    }
    log.error({ err, path: c.req.path }, 'unhandled error');
    return errorJson(c, 500, 'INTERNAL', 'internal error');
  };
}
