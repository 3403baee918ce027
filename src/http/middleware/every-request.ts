/**
 * What every request goes through, in one middleware: its id, timing and
 * log line (request-log.ts), its typed variables (env.ts), the refusal of
 * cross-site state changes (same-origin.ts), and the security headers
 * (security-headers.ts). One async layer instead of three, since each layer
 * costs CPU on every login (bench/RESULTS.md).
 *
 * Order: the id and clock start first and the log line is written last, so
 * they cover everything; the security headers go on every answer, the 403
 * of a cross-site request and error pages included.
 */
import type { Context } from 'hono';
import type { Registry } from '../../lib/metrics.ts';
import type { Logger } from '../../log.ts';
import { MESSAGES } from '../../wire/messages.ts';
import { ClientRequest } from '../client-request.ts';
import { factory } from '../env.ts';
import { requestObserver } from '../request-log.ts';
import { refusedAsCrossSite } from './same-origin.ts';
import { addSecurityHeaders } from './security-headers.ts';

export interface EveryRequestOptions {
  metrics: Registry | null;
  log: Logger;
  /** Believe X-Forwarded-Proto and -For (TRUST_PROXY). */
  trustProxy: boolean;
  /** Answers a refused cross-site request (a 403 page or JSON body) with this message. */
  refuseCrossSite: (c: Context, message: string) => Response | Promise<Response>;
}

export function everyRequest({ metrics, log, trustProxy, refuseCrossSite }: EveryRequestOptions) {
  const observer = requestObserver(metrics, log);
  return factory.createMiddleware(async (c, next) => {
    const trace = observer.begin(c);
    c.set('requestId', trace.requestId);
    c.set('client', new ClientRequest(c, trace.requestId, trustProxy));
    if (refusedAsCrossSite(c)) c.res = await refuseCrossSite(c, MESSAGES.CROSS_SITE);
    else await next();
    addSecurityHeaders(c.res.headers);
    observer.end(c, trace);
  });
}
