import type { Context } from 'hono';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { METHOD_NOT_ALLOWED, Status } from '../wire/status.ts';
import type { AppDeps } from './app-deps.ts';
import { factory } from './env.ts';
import { errorHandler, formatFor, renderError } from './errors.tsx';
import { everyRequest } from './middleware/every-request.ts';
import { adminUserRoutes } from './routes/admin-users.ts';
import { assetRoutes } from './routes/assets.ts';
import { authRoutes } from './routes/auth.ts';
import { healthRoutes } from './routes/health.ts';
import { meRoutes } from './routes/me.ts';
import { openApiJsonRoutes } from './routes/openapi-json.ts';
import { pageRoutes } from './routes/pages.tsx';
import { pictureRoutes } from './routes/pictures.ts';
import { profileRoutes } from './routes/profile.tsx';
import { totpRoutes } from './routes/totp.ts';
import { totpPageRoutes } from './routes/totp-pages.tsx';
import { UploadSlots } from './upload.ts';

/**
 * The HTTP server's application: routing, validation, cookies and pages.
 * It holds no business logic; every decision is made by the TCP server.
 * Each route gets its own slice of the dependencies and configuration.
 */
export function createApp({ rpc, http, log, metrics, draining }: AppDeps) {
  const body = { rpc, maxJsonBytes: http.maxJsonBytes };
  const app = factory.createApp();
  app.use(
    everyRequest({
      metrics: metrics ?? null,
      log,
      trustProxy: http.trustProxy,
      refuse: (c, code, message) => renderError(c, new RpcError(code, message), formatFor(c)),
    }),
  );
  app.route('/', healthRoutes(rpc, draining ?? (() => false), log));
  app.route('/', authRoutes(body));
  app.route('/', meRoutes(body));
  app.route('/', totpRoutes(body));
  app.route('/', adminUserRoutes(body));
  app.route('/', openApiJsonRoutes());
  const uploads = {
    maxUploadBytes: http.maxUploadBytes,
    slots: new UploadSlots(http.uploadConcurrency),
  };
  app.route('/', pictureRoutes({ rpc, ...uploads, log }));
  app.route('/', pageRoutes({ ...body, log }));
  app.route('/', profileRoutes({ ...body, ...uploads, log }));
  app.route('/', totpPageRoutes({ ...body, log }));
  app.route('/', assetRoutes());
  // Browsers ask for it on every site; there is none, and that need not be asked again.
  app.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }));
  const methodsOf = servedMethods(app);
  app.notFound((c) => {
    const format = formatFor(c);
    const allowed = format === 'json' ? methodsOf(c.req.path) : [];
    if (allowed.length > 0) return methodNotAllowed(c, allowed);
    const message = format === 'page' ? MESSAGES.NO_SUCH_PAGE : MESSAGES.NO_SUCH_ROUTE;
    return renderError(c, new RpcError(Status.NOT_FOUND, message), format);
  });
  app.onError(errorHandler(log, 'json'));
  return app;
}

/**
 * The methods `path` is served with (HEAD wherever GET), from the app's own
 * routes, worked out at the first request that needs them (every route is
 * registered by then). The admin routes are left out: with the admin API
 * off, /users must answer exactly as a missing route does, whatever the method.
 */
function servedMethods(app: { routes: readonly { method: string; path: string }[] }) {
  let routes: { method: string; pattern: RegExp }[] | null = null;
  return (path: string): string[] => {
    routes ??= app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/users' && !r.path.startsWith('/users/'))
      .map((r) => ({ method: r.method, pattern: routePattern(r.path) }));
    const methods = new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/** A Hono route path (`/api/v1/me/sessions/:id`) as an anchored pattern. */
function routePattern(path: string): RegExp {
  const escaped = path.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/:[^/]+/g, '[^/]+').replace(/\*/g, '.*')}$`);
}

/** 405 for an API route asked with a method it does not take, naming those it does. */
function methodNotAllowed(c: Context, allowed: string[]): Response {
  const message = `this route takes ${allowed.join(', ')}`;
  return c.json({ error: { code: METHOD_NOT_ALLOWED, message } }, 405, {
    allow: allowed.join(', '),
  });
}
