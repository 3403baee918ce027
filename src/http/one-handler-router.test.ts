import { describe, expect, it } from 'bun:test';
import type { ErrorHandler, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { oneHandlerRouter } from './one-handler-router.ts';

/** An app as createApp builds it: one middleware for every request, then the routes. */
function app() {
  const seen: string[] = [];
  const every: MiddlewareHandler = async (c, next) => {
    seen.push(`before ${c.req.path}`);
    await next();
    c.res.headers.set('x-every', c.req.routePath);
    seen.push(`after ${c.res.status}`);
  };
  const onError: ErrorHandler = (err, c) => c.json({ failed: err.message }, 500);
  const hono = new Hono({ router: oneHandlerRouter(every, onError) });
  hono.use(every);
  hono.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));
  hono.get('/boom', () => {
    throw new Error('boom');
  });
  hono.get('/own', async (_c, next) => {
    seen.push('own middleware');
    await next();
  });
  hono.get('/own', (c) => c.text('own'));
  hono.notFound((c) => c.json({ missing: true }, 404));
  hono.onError(onError);
  return { hono, seen };
}

describe('unit: oneHandlerRouter', () => {
  it('should hand Hono the middleware and a route as one handler', () => {
    const { hono } = app();
    expect(hono.router.match('GET', '/users/7')[0]).toHaveLength(1);
    expect(hono.router.match('GET', '/own')[0]).toHaveLength(3);
  });

  it('should run the middleware around the route, with its parameters and path', async () => {
    const { hono, seen } = app();
    const res = await hono.request('/users/7');
    expect(await res.json()).toEqual({ id: '7' });
    expect(res.headers.get('x-every')).toBe('/users/:id');
    expect(seen).toEqual(['before /users/7', 'after 200']);
  });

  it('should turn what a route throws into the error answer before the middleware ends', async () => {
    const { hono, seen } = app();
    const res = await hono.request('/boom');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ failed: 'boom' });
    expect(res.headers.get('x-every')).toBe('/boom');
    expect(seen).toEqual(['before /boom', 'after 500']);
  });

  it('should leave routes with middleware of their own, and unknown paths, as Hono runs them', async () => {
    const { hono, seen } = app();
    expect(await (await hono.request('/own')).text()).toBe('own');
    const missing = await hono.request('/missing');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-every')).not.toBeNull();
    expect(seen).toEqual([
      'before /own',
      'own middleware',
      'after 200',
      'before /missing',
      'after 404',
    ]);
  });
});
