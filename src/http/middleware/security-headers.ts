/**
 * Security headers on every response: a strict Content-Security-Policy (no
 * inline script or style at all; scripts and styles only from this origin;
 * no framing), nosniff, no referrer beyond this origin, and no caching of
 * pages that show someone's data.
 *
 * The same set hono/secure-headers gives with these options, written out once
 * and copied onto each response: building them per request (and a second
 * middleware for Cache-Control) cost about 4 µs of a login's 44 µs of CPU in
 * the HTTP server.
 */
import type { MiddlewareHandler } from 'hono';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // blob: for the preview of a picture chosen for upload.
  "img-src 'self' blob:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=()'],
  // Not no-referrer: with it, browsers send `Origin: null` on same-origin form posts.
  ['Referrer-Policy', 'same-origin'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** Adds the security headers; HTML pages (they show personal data) also get `no-store`. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
    if (headers.get('content-type')?.startsWith('text/html'))
      headers.set('Cache-Control', 'no-store');
  };
}
