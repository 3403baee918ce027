/**
 * The request log and histogram: every request gets an id (X-Request-Id:
 * kept when a trusted proxy sent a sane one, else made here), is timed into
 * usermgr_http_request_duration_seconds{route,method,status}, and is logged
 * (debug always; info when it failed on our side or was slow, but a 503 of
 * /readyz: that is its answer, and health.ts logs when it changes).
 */
import type { Context } from 'hono';
import { histogram, type Registry } from '../lib/metrics.ts';
import type { Logger } from '../log.ts';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SLOW_MS = 1000;
const READINESS = '/readyz';

/** What the request log and metrics need from the start of a request. */
export interface RequestTrace {
  requestId: string;
  started: number;
}

/**
 * The request log and histogram, as two calls around the handling of a
 * request (made by the every-request middleware): begin() gives the request
 * its id, end() stamps X-Request-Id on the response, observes and logs it.
 */
export function requestObserver(registry: Registry | null, log: Logger, trustProxy: boolean) {
  const requests = registry
    ? histogram(
        registry,
        'usermgr_http_request_duration_seconds',
        'HTTP requests, by route, method and status.',
        ['route', 'method', 'status'],
      )
    : null;
  const debug = log.isLevelEnabled('debug');
  return {
    begin(c: Context): RequestTrace {
      const started = performance.now();
      // Only a proxy of ours (TRUST_PROXY) names requests: a client's own id would let
      // anyone put another request's id on the audit lines its requests write.
      const given = trustProxy ? c.req.raw.headers.get('x-request-id') : null;
      const requestId = given !== null && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
      return { requestId, started };
    },
    end(c: Context, { requestId, started }: RequestTrace): void {
      c.res.headers.set('X-Request-Id', requestId);
      const ms = performance.now() - started;
      const status = c.res.status;
      const route = c.req.routePath;
      requests?.observeWith([route, c.req.method, String(status)], ms / 1000);
      if ((status >= 500 && route !== READINESS) || ms > SLOW_MS) {
        log.info({ requestId, method: c.req.method, route, status, ms: Math.round(ms) }, 'request');
      } else if (debug) {
        log.debug(
          { requestId, method: c.req.method, route, status, ms: Math.round(ms) },
          'request',
        );
      }
    },
  };
}
