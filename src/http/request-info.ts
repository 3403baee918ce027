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

/** What every RPC made for this request carries. */
export function callOptions(c: Context, trustProxy: boolean): CallOptions {
  return { clientIp: clientIp(c, trustProxy) };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The id that ties this request's log lines together on both servers:
 * the caller's X-Request-Id when it is a short plain token (a proxy's, or an
 * operator's script's), else a fresh one. Never anything that could forge a
 * log line.
 */
export function requestId(c: Context): string {
  const given = c.req.header('x-request-id');
  return given !== undefined && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
