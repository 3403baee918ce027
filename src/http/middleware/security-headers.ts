/**
 * Security headers on every response: a strict Content-Security-Policy (no
 * inline script or style at all; scripts and styles only from this origin;
 * no framing), nosniff, no referrer beyond this origin, and no caching of
 * pages that show someone's data. Built on hono/secure-headers.
 */
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      // blob: for the preview of a picture chosen for upload.
      imgSrc: ["'self'", 'blob:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: 'DENY',
    // Not no-referrer: with it, browsers send `Origin: null` on same-origin form posts.
    referrerPolicy: 'same-origin',
    permissionsPolicy: { camera: [], microphone: [], geolocation: [] },
  });
}

/** For HTML pages: they show personal data and must not be stored or shown again from cache. */
export const noStore: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.headers.get('content-type')?.startsWith('text/html'))
    c.header('Cache-Control', 'no-store');
};
