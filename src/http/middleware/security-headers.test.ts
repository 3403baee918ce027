import { describe, expect, it } from 'bun:test';
import type { MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { API_HEADERS, addSecurityHeaders } from './security-headers.ts';

/** What the every-request middleware does with the headers. */
const securityHeaders = (): MiddlewareHandler => async (c, next) => {
  await next();
  addSecurityHeaders(c.res.headers);
};

/** hono/secure-headers with the options this project chose for pages. */
function reference() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'blob:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'same-origin',
    permissionsPolicy: { camera: [], microphone: [], geolocation: [] },
  });
}

function appWith(middleware: MiddlewareHandler) {
  return new Hono()
    .use(middleware)
    .get('/json', (c) => c.json({ ok: true }))
    .get('/page', (c) => c.html('<p>hello</p>'))
    .get('/cached', (c) => c.body('x', 200, { 'Cache-Control': 'public, max-age=60' }))
    .get('/cached-page', (c) => c.html('<p>x</p>', 200, { 'Cache-Control': 'public, max-age=60' }));
}

describe('unit: securityHeaders', () => {
  it('should give pages the headers hono/secure-headers gives with our options, and no-store', async () => {
    const ours: Record<string, unknown> = (
      await appWith(securityHeaders()).request('/page')
    ).headers.toJSON();
    const theirs: Record<string, unknown> = (
      await appWith(reference()).request('/page')
    ).headers.toJSON();
    expect(ours).toEqual({ ...theirs, 'cache-control': 'no-store' });
  });

  it('should give other responses the headers that act on them, and nothing else', async () => {
    const headers = (await appWith(securityHeaders()).request('/json')).headers.toJSON();
    const expected: Record<string, string> = {
      'content-type': 'application/json',
      'cache-control': 'no-store',
    };
    for (const [name, value] of API_HEADERS) expected[name.toLowerCase()] = value;
    expect(headers).toEqual(expected);
    expect(headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('should keep a Cache-Control a response set, except on pages', async () => {
    const app = appWith(securityHeaders());
    expect((await app.request('/cached')).headers.get('cache-control')).toBe('public, max-age=60');
    expect((await app.request('/cached-page')).headers.get('cache-control')).toBe('no-store');
    expect((await app.request('/missing')).headers.get('cache-control')).toBe('no-store');
  });
});
