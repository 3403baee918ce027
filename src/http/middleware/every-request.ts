/**
 * What every request goes through, in one middleware: its id, timing and
 * log line (request-log.ts), its typed variables (env.ts), the refusal of a
 * request without a Host and of cross-site state changes (same-origin.ts),
 * and the security headers
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
import { Status } from '../../wire/status.ts';
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
  /** Answers a refused request (a page or JSON body) with this status and message. */
  refuse: (c: Context, code: Status, message: string) => Response | Promise<Response>;
}

/** '/': a request line's target came without a Host to make it a URL of (HTTP/1.0). */
const SLASH = 47;

export function everyRequest({ metrics, log, trustProxy, refuse }: EveryRequestOptions) {
  const observer = requestObserver(metrics, log, trustProxy);
  return factory.createMiddleware(async (c, next) => {
    const trace = observer.begin(c);
    c.set('requestId', trace.requestId);
    c.set('client', new ClientRequest(c, trace.requestId, trustProxy));
    // Without a Host, Bun's request URL is the bare path, and no route can be found from it.
    if (c.req.raw.url.charCodeAt(0) === SLASH)
      c.res = await refuse(c, Status.INVALID_ARGUMENT, MESSAGES.NO_HOST);
    else if (refusedAsCrossSite(c))
      c.res = await refuse(c, Status.PERMISSION_DENIED, MESSAGES.CROSS_SITE);
    else await next();
    if (c.req.method === 'HEAD') await lengthForHead(c);
    addSecurityHeaders(c.res.headers);
    observer.end(c, trace);
  });
}

/**
 * HEAD runs the GET route, and Hono answers its headers without the body;
 * Bun then sent `Content-Length: 0`. The length is the GET answer's (RFC 9110
 * 9.3.2), read from the body here: HEAD is rare, and the routes stay as they are.
 */
async function lengthForHead(c: Context): Promise<void> {
  if (c.res.body === null || c.res.headers.has('content-length')) return;
  const body = await c.res.arrayBuffer();
  c.res = new Response(body, c.res);
  c.res.headers.set('content-length', String(body.byteLength));
}
