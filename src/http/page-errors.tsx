/**
 * Errors on HTML pages: what a form can show next to its fields comes back
 * to the form (POST-redirect-GET with a flash); everything else is an error
 * page with the mapped status, never JSON and never a stack trace.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { codeToHttpStatus, Status } from '../wire/status.ts';
import type { Flash } from './flash.ts';
import { ErrorPage } from './views/error.tsx';
import { renderPage } from './views/render.ts';

/** Statuses a form shows to the person filling it in, who can then fix the input or retry. */
const SHOWN_ON_FORM = new Set([
  Status.INVALID_ARGUMENT,
  Status.ALREADY_EXISTS,
  Status.UNSUPPORTED_MEDIA,
  Status.RESOURCE_EXHAUSTED,
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
  const message =
    err.retryAfterS > 0 ? `${err.message} (try again in ${err.retryAfterS} s)` : err.message;
  const field = err.field || defaultField;
  return field ? { fields: { [field]: message }, values } : { error: message, values };
}

const TITLES: Partial<Record<number, string>> = {
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

export function errorPage(c: Context, status: number, message: string) {
  const title = TITLES[status] ?? 'Something went wrong';
  return renderPage(
    c,
    <ErrorPage title={title} message={message} />,
    status as ContentfulStatusCode,
  );
}

/** `onError` of the page sub-apps. */
export function createPageErrorHandler(log: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof RpcError) {
      if (err.retryAfterS > 0) c.header('Retry-After', String(err.retryAfterS));
      return errorPage(c, codeToHttpStatus(err.code), err.message);
    }
    if (err instanceof HTTPException)
      return errorPage(c, err.status, err.message || 'request refused');
    log.error({ err, path: c.req.path }, 'unhandled error on a page');
    return errorPage(c, 500, 'something went wrong on our side; please try again');
  };
}
