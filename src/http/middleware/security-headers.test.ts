import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { securityHeaders } from './security-headers.ts';

/** hono/secure-headers with the options this project chose; ours must send exactly its headers. */
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

function appWith(middleware: ReturnType<typeof securityHeaders>) {
  return new Hono()
    .use(middleware)
    .get('/json', (c) => c.json({ ok: true }))
    .get('/page', (c) => c.html('<p>hello</p>'))
    .get('/own', (c) => c.body('x', 200, { 'Content-Security-Policy': 'default-src *' }));
}

describe('unit: securityHeaders', () => {
  it('should send the same headers as hono/secure-headers with our options', async () => {
    const ours = appWith(securityHeaders());
    const theirs = appWith(reference());
    for (const path of ['/json', '/own', '/missing']) {
      const a = (await ours.request(path)).headers.toJSON();
      const b = (await theirs.request(path)).headers.toJSON();
      expect([path, a]).toEqual([path, b]);
    }
  });

  it('should forbid storing HTML pages and only them', async () => {
    const app = appWith(securityHeaders());
    expect((await app.request('/page')).headers.get('cache-control')).toBe('no-store');
    expect((await app.request('/json')).headers.get('cache-control')).toBeNull();
  });
});
