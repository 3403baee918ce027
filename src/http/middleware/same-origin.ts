/**
 * Refuses state-changing requests that a browser made on behalf of another
 * site (CSRF), using the headers browsers set and pages cannot forge:
 * Sec-Fetch-Site, else Origin compared with Host. Clients that are not
 * browsers send neither and pass; they hold no ambient cookie of a victim.
 * Forms additionally carry a per-session token (checked by the TCP server).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { errorJson } from '../errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MESSAGE = 'cross-site requests are not allowed';

/** `refuse` answers the 403 (default: the JSON error body); it gets the message to show. */
export function sameOrigin(
  refuse: (c: Context, message: string) => Response | Promise<Response> = (c, message) =>
    errorJson(c, 403, 'PERMISSION_DENIED', message),
): MiddlewareHandler {
  return async (c, next) => {
    if (
      !SAFE_METHODS.has(c.req.method) &&
      isCrossSite(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host'))
    ) {
      return refuse(c, MESSAGE);
    }
    return next();
  };
}

export function isCrossSite(
  fetchSite: string | undefined,
  origin: string | undefined,
  host: string | undefined,
): boolean {
  if (fetchSite !== undefined) return fetchSite !== 'same-origin' && fetchSite !== 'none';
  if (origin === undefined) return false;
  if (origin === 'null') return true;
  try {
    return new URL(origin).host !== host;
  } catch {
    return true;
  }
}
