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
