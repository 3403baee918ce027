import type { Context } from 'hono';
import { getConnInfo } from 'hono/bun';
import type { CallOptions } from '../rpc/client.ts';

/**
 * The end user's address: the socket's peer, or with a trusted proxy the
 * last address in X-Forwarded-For (the one the proxy itself appended; the
 * ones before it are whatever the client claimed).
 */
export function clientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for');
    const last = forwarded?.split(',').at(-1)?.trim();
    if (last) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? '';
  } catch {
    return ''; // Not served by Bun.serve (app.request() in tests).
  }
}

// Kept beside the request rather than in Hono's typed context, so routes need no shared Env type.
const requestIds = new WeakMap<Request, string>();

export function setRequestId(request: Request, id: string): void {
  requestIds.set(request, id);
}

/** The id the request-observing middleware gave this request ('' outside it). */
export function requestId(c: Context): string {
  return requestIds.get(c.req.raw) ?? '';
}

/**
 * What every RPC made for this request carries; the client address only
 * where a call uses it. The request's signal aborts when its client hangs
 * up: the call is then cancelled, here and on the TCP server.
 */
export function callOptions(c: Context, trustProxy: boolean, withClientIp = true): CallOptions {
  return {
    requestId: requestId(c),
    clientIp: withClientIp ? clientIp(c, trustProxy) : '',
    signal: c.req.raw.signal,
  };
}
