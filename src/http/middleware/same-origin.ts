/**
 * Refuses state-changing requests that a browser made on behalf of another
 * site (CSRF), using the headers browsers set and pages cannot forge:
 * Sec-Fetch-Site, else Origin compared with Host. Clients that are not
 * browsers send neither and pass; they hold no ambient cookie of a victim.
 * Forms additionally carry a per-session token (checked by the TCP server).
 * A request that carries a Bearer token passes too: it is authenticated by
 * that token, not by a session cookie (client-request.ts reads the header
 * first), and a browser adds one to a cross-site request only after a CORS
 * preflight, which this server never grants. Refusing it turned away the
 * admin API's callers that send an Origin (a tool of another origin, a
 * proxy), with a 403 the admin API does not document. Any other scheme is
 * no exemption: a browser sends Basic or Negotiate credentials by itself
 * (behind an authenticating proxy, an intranet), so they prove nothing.
 */
import type { Context } from 'hono';
import { bearerToken } from '../client-request.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when this request changes state and a browser sent it for another site. */
export function refusedAsCrossSite(c: Context): boolean {
  return (
    !SAFE_METHODS.has(c.req.method) &&
    bearerToken(c.req.header('authorization')) === '' &&
    isCrossSite(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host'))
  );
}

function isCrossSite(
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
