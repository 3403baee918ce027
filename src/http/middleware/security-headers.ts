/**
 * Security headers on every response. Pages (HTML) get the full set a
 * browser applies to documents: a strict Content-Security-Policy (no inline
 * script or style at all; scripts and styles only from this origin; no
 * framing), isolation and feature policies, nosniff, no referrer beyond this
 * origin. Everything else (JSON, pictures, assets) gets the headers that act
 * on a response that is not a document (the OWASP REST Security Cheat Sheet's
 * list): nosniff, no framing, a CSP that allows nothing, same-origin resource
 * policy, HSTS. The document-only headers did nothing on those responses and
 * made every API answer about 400 bytes longer.
 *
 * Pages, and other responses that set no Cache-Control, get `no-store`: they
 * carry personal data and tokens. Assets and pictures set their own.
 *
 * The pages' set is the one hono/secure-headers gives with these options
 * (a test compares them), written out once and copied onto each response by
 * the every-request middleware.
 */
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

const HSTS = 'max-age=15552000; includeSubDomains';

/** On HTML pages. */
const PAGE_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=()'],
  // Not no-referrer: with it, browsers send `Origin: null` on same-origin form posts.
  ['Referrer-Policy', 'same-origin'],
  ['Strict-Transport-Security', HSTS],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** On every other response. */
export const API_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Strict-Transport-Security', HSTS],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

/** Adds the headers for this response's kind (see the top of this file). */
export function addSecurityHeaders(headers: Headers): void {
  const page = headers.get('content-type')?.startsWith('text/html') === true;
  const set = page ? PAGE_HEADERS : API_HEADERS;
  for (let i = 0; i < set.length; i++) {
    const header = set[i] as readonly [string, string];
    headers.set(header[0], header[1]);
  }
  if (page || !headers.has('cache-control')) headers.set('Cache-Control', 'no-store');
}
