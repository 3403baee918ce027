/**
 * Hono's default router (RegExpRouter, else TrieRouter), handing the
 * every-request middleware and the route's handler to Hono as one handler.
 *
 * Hono runs a request that matched one handler by calling it; two or more
 * it composes per request (a closure and an async frame per handler, and one
 * more around them): about 2 µs of a login's CPU (bench/RESULTS.md, "The
 * HTTP app's own work"). Every route matches the every-request middleware
 * too, so without this every request took the composed path. The fused
 * handler does what the composition did: the middleware runs the handler as
 * its `next`, a Response the handler returns becomes `c.res`, and an Error it
 * throws becomes the application's error answer (`onError`) before the
 * middleware adds its headers and log line. A route with middleware of its
 * own (three handlers or more) still goes through the composition.
 */
import type { Context, ErrorHandler, MiddlewareHandler, Next } from 'hono';
import type { Result, Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';

// What Hono stores in its router per route: the handler and the route's record.
// biome-ignore lint/suspicious/noExplicitAny: Hono's own type for it
type Stored = [MiddlewareHandler, any];
type Handlers = Result<Stored>[0];

export function oneHandlerRouter(
  middleware: MiddlewareHandler,
  onError: ErrorHandler,
): Router<Stored> {
  const inner: Router<Stored> = new SmartRouter({
    routers: [new RegExpRouter(), new TrieRouter()],
  });
  // RegExpRouter answers a route with the same array every time: fuse once per route.
  const fused = new WeakMap<Handlers, Handlers>();
  return {
    name: 'OneHandlerRouter',
    add: (method, path, handler) => inner.add(method, path, handler),
    match(method, path) {
      const result = inner.match(method, path);
      const handlers = result[0];
      const [first, second] = handlers;
      if (handlers.length !== 2 || first?.[0][0] !== middleware || second === undefined) {
        return result;
      }
      let one = fused.get(handlers);
      if (one === undefined) {
        const [[handler, route], params] = second;
        one = [[[fuse(middleware, handler, onError), route], params]] as Handlers;
        fused.set(handlers, one);
      }
      return (result.length === 2 ? [one, result[1]] : [one]) as Result<Stored>;
    },
  };
}

/** The middleware with the handler as its `next`, as Hono's composition runs the two. */
function fuse(
  middleware: MiddlewareHandler,
  handler: MiddlewareHandler,
  onError: ErrorHandler,
): MiddlewareHandler {
  return (c: Context, next: Next) =>
    middleware(c, async () => {
      try {
        const res = await handler(c, next);
        if (res && !c.finalized) c.res = res;
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        c.error = err;
        c.res = await onError(err, c);
      }
    });
}
