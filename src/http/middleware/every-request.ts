/**
 * What every request goes through, in one middleware: its id, timing and
 * log line (metrics.ts), the refusal of cross-site state changes
 * (same-origin.ts), and the security headers (security-headers.ts). One
 * async layer instead of three: 0.4 µs less per request in the median of 12
 * interleaved rounds of the app alone (1.2 µs at best), out of about 10 µs.
 *
 * Order: the id and clock start first and the log line is written last, so
 * they cover everything; the security headers go on every answer, the 403
 * of a cross-site request and error pages included.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Registry } from '../../lib/metrics.ts';
import type { Logger } from '../../log.ts';
import { requestObserver } from '../metrics.ts';
import { CROSS_SITE_MESSAGE, refusedAsCrossSite } from './same-origin.ts';
import { addSecurityHeaders } from './security-headers.ts';

export interface EveryRequestOptions {
  metrics: Registry | null;
  log: Logger;
  /** Answers a refused cross-site request (a 403 page or JSON body) with this message. */
  refuseCrossSite: (c: Context, message: string) => Response | Promise<Response>;
}

export function everyRequest({
  metrics,
  log,
  refuseCrossSite,
}: EveryRequestOptions): MiddlewareHandler {
  const observer = requestObserver(metrics, log);
  return async (c, next) => {
    const trace = observer.begin(c);
    if (refusedAsCrossSite(c)) c.res = await refuseCrossSite(c, CROSS_SITE_MESSAGE);
    else await next();
    addSecurityHeaders(c.res.headers);
    observer.end(c, trace);
  };
}
