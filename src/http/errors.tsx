/**
 * The one place where errors become HTTP answers. Anything thrown or
 * refused is first made an RpcError (toRpcError: Hono's HTTPExceptions by
 * the inverse status map, anything else as INTERNAL, logged); renderError
 * then answers it as the API's JSON body or as an error page, with the HTTP
 * status of its code (src/wire/status.ts) and Retry-After when it has one.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status';
import type { Logger } from '../log.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { codeToHttpStatus, httpStatusToCode, Status, statusName } from '../wire/status.ts';
import { messageForPeople } from './for-people.ts';
import { ErrorPage } from './views/error.tsx';
import { renderPage } from './views/render.ts';

/** The JSON body of every API error: `{"error":{"code":"NOT_FOUND","message":"..."}}`. */
interface ErrorBody {
  error: { code: string; message: string; field?: string; fields?: Record<string, string> };
}

/** nginx's status for a request whose client closed the connection: it never reaches anyone. */
export const CLIENT_CLOSED = 499 as StatusCode;

/** How an error is shown: the API's JSON body, or a page for a browser. */
export type ErrorFormat = 'json' | 'page';

/** Browsers navigating ask for text/html first; API clients do not. */
export function formatFor(c: Context): ErrorFormat {
  const accept = c.req.header('accept');
  return accept !== undefined && /^text\/html\b/i.test(accept.trim()) ? 'page' : 'json';
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

const PAGE_TITLES: Partial<Record<number, string>> = {
  400: 'That did not work',
  401: 'Please log in',
  403: 'Not allowed',
  404: 'Page not found',
  413: 'Too large',
  415: 'Not supported',
  429: 'Too busy',
  503: 'Temporarily unavailable',
  504: 'Taking too long',
};

/**
 * The page a form was sent from, to open again (a fresh form), when it is a
 * page of this host; else the start page (the error page's default). The
 * host alone is compared: behind a TLS proxy the request is http:// and the
 * page https:// (a review). A path starting with // or holding a backslash
 * would be another site's address in a link: refused.
 */
function backLink(c: Context): { href: string; text: string } | undefined {
  const referer = c.req.header('referer');
  if (referer === undefined || c.req.method === 'GET') return undefined;
  try {
    const from = new URL(referer);
    if (from.host !== new URL(c.req.url).host) return undefined;
    if (!/^\/(?![/\\])[^\\]*$/.test(from.pathname)) return undefined;
    return { href: from.pathname, text: 'Open the page again' };
  } catch {
    return undefined;
  }
}

/** Answers `err` in `format`. The one function that turns an error into a response. */
export function renderError(c: Context, err: RpcError, format: ErrorFormat) {
  const status = codeToHttpStatus(err.code) as ContentfulStatusCode;
  if (err.retryAfterS > 0) c.header('Retry-After', String(err.retryAfterS));
  if (err.code === Status.PAYLOAD_TOO_LARGE) closeConnection(c);
  if (format === 'page') {
    const title = PAGE_TITLES[status] ?? 'Something went wrong';
    const message = status === 503 || status === 504 ? messageForPeople(err) : err.message;
    return renderPage(c, <ErrorPage title={title} message={message} link={backLink(c)} />, status);
  }
  const body: ErrorBody = { error: { code: statusName(err.code), message: err.message } };
  if (err.field) {
    body.error.field = err.field;
    body.error.fields = { [err.field]: err.message };
    for (const fault of err.moreFields) body.error.fields[fault.field] = fault.message;
  }
  return c.json(body, status);
}

/**
 * Anything caught, as the RpcError to answer with. An HTTPException (Hono
 * and its middlewares) keeps its status; anything else is a bug or an
 * outage: logged with its stack, answered with a generic message.
 */
function toRpcError(err: unknown, c: Context, log: Logger, format: ErrorFormat): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof HTTPException) {
    return new RpcError(httpStatusToCode(err.status), err.message || 'request refused');
  }
  log.error({ err, path: c.req.path }, 'unhandled error');
  return new RpcError(
    Status.INTERNAL,
    format === 'page' ? MESSAGES.INTERNAL_ON_PAGE : MESSAGES.INTERNAL,
  );
}

/** `onError` of the application (JSON) and of the page sub-apps (pages). */
export function errorHandler(log: Logger, format: ErrorFormat) {
  return (err: Error, c: Context) => {
    // The client hung up while its body was read (a body limit counting a chunked
    // body reads it before the route): its own doing, answered to nobody.
    if (err?.name === 'AbortError' && c.req.method !== 'GET') {
      log.debug({ path: c.req.path }, 'client left while its body was read');
      return c.body(null, CLIENT_CLOSED);
    }
    return renderError(c, toRpcError(err, c, log, format), format);
  };
}
