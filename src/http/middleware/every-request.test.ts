import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { createRegistry } from '../../lib/metrics.ts';
import { silentLogger } from '../../log.ts';
import { Status } from '../../wire/status.ts';
import type { AppEnv } from '../env.ts';
import { everyRequest } from './every-request.ts';

function app(trustProxy = false) {
  const metrics = createRegistry('http', false);
  const seen: string[] = [];
  const hono = new Hono<AppEnv>()
    .use(
      everyRequest({
        metrics,
        log: silentLogger,
        trustProxy,
        refuse: (c, code, message) =>
          c.json({ refused: message }, code === Status.INVALID_ARGUMENT ? 400 : 403),
      }),
    )
    .post('/change', (c) => {
      seen.push(c.get('requestId'));
      return c.json({ changed: true });
    })
    .get('/boom', () => {
      throw new Error('boom');
    })
    .onError((_err, c) => c.json({ failed: true }, 500));
  return { hono, metrics, seen };
}

describe('unit: everyRequest', () => {
  it('should give a request an id, the security headers, and a line in the histogram', async () => {
    const { hono, metrics, seen } = app();
    const res = await hono.request('/change', { method: 'POST' });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen).toEqual([id]);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await metrics.metrics()).toContain(
      'usermgr_http_request_duration_seconds_count{process="http",route="/change",method="POST",status="200"} 1',
    );
  });

  it('should refuse a cross-site change before the route runs, with the same headers and id', async () => {
    const { hono, metrics, seen } = app();
    const res = await hono.request('/change', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', 'x-request-id': 'from-the-proxy-1' },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ refused: 'cross-site requests are not allowed' });
    expect(seen).toEqual([]);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(await metrics.metrics()).toContain('status="403"} 1');
  });

  it("should keep a sane X-Request-Id only from a trusted proxy, not a client's", async () => {
    const headers = { 'x-request-id': 'from-the-proxy-1' };
    const trusted = app(true);
    const kept = await trusted.hono.request('/change', { method: 'POST', headers });
    expect([kept.headers.get('x-request-id'), ...trusted.seen]).toEqual([
      'from-the-proxy-1',
      'from-the-proxy-1',
    ]);
    const unsafe = { 'x-request-id': 'not <safe>' };
    const replaced = await trusted.hono.request('/change', { method: 'POST', headers: unsafe });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const client = app(false);
    const fresh = await client.hono.request('/change', { method: 'POST', headers });
    const id = fresh.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(client.seen).toEqual([id]);
  });

  it('should let a cross-site change through when it carries a Bearer token, never a cookie or Basic', async () => {
    const { hono, seen } = app();
    const crossSite = { 'sec-fetch-site': 'cross-site', origin: 'https://elsewhere.example' };
    const bearer = await hono.request('/change', {
      method: 'POST',
      headers: { ...crossSite, authorization: 'Bearer token-of-a-tool' },
    });
    expect(bearer.status).toBe(200);
    const cookie = await hono.request('/change', {
      method: 'POST',
      headers: { ...crossSite, cookie: 'session=ambient' },
    });
    expect(cookie.status).toBe(403);
    // Basic (or Negotiate) credentials a browser sends by itself prove nothing.
    const basic = await hono.request('/change', {
      method: 'POST',
      headers: { ...crossSite, authorization: `Basic ${btoa('intranet:password')}` },
    });
    expect(basic.status).toBe(403);
    expect(seen).toHaveLength(1);
  });

  it('should put the headers on an answer to a failed route too', async () => {
    const { hono } = app();
    const res = await hono.request('/boom');
    expect(res.status).toBe(500);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).not.toBeNull();
  });
});
