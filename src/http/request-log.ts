/**
 * The request log and histogram: every request gets an id (X-Request-Id:
 * kept when a trusted proxy sent a sane one, else made here), is timed into
 * usermgr_http_request_duration_seconds{route,method,status}, and is logged
 * (debug always; info when it failed on our side or was slow, but a 503 of
 * /readyz: that is its answer, and health.ts logs when it changes). Those info
 * lines are at most NOTABLE_BURST per NOTABLE_WINDOW_MS, then one count of
 * those left out: an outage of a dependency made every request a line (a
 * failure audit: 49,375 lines in a 4 s outage of the TCP server, 32 MB in all),
 * where the histogram counts every one and the first lines say what the rest
 * would.
 */
import type { Context } from 'hono';
import { histogram, type Registry } from '../lib/metrics.ts';
import { Sampler } from '../lib/sampler.ts';
import type { Logger } from '../log.ts';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SLOW_MS = 1000;
const READINESS = '/readyz';
const NOTABLE_WINDOW_MS = 10_000;
const NOTABLE_BURST = 20;

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
  const notable = new Sampler(NOTABLE_WINDOW_MS, NOTABLE_BURST, (_, leftOut) =>
    log.info({ requestsSinceLastLine: leftOut }, 'request lines left out'),
  );
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
        const leftOut = debug ? 0 : notable.pass('request');
        if (leftOut !== null)
          log.info(
            {
              requestId,
              method: c.req.method,
              route,
              status,
              ms: Math.round(ms),
              requestsSinceLastLine: leftOut > 0 ? leftOut : undefined,
            },
            'request',
          );
      } else if (debug) {
        log.debug(
          { requestId, method: c.req.method, route, status, ms: Math.round(ms) },
          'request',
        );
      }
    },
  };
}
