import type { Context } from 'hono';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { AppDeps } from './app-deps.ts';
import { factory } from './env.ts';
import { errorHandler, renderError } from './errors.tsx';
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
  app.route('/', pictureRoutes({ rpc, maxUploadBytes: http.maxUploadBytes, log }));
  app.route('/', pageRoutes({ ...body, log }));
  app.route('/', profileRoutes({ ...body, maxUploadBytes: http.maxUploadBytes, log }));
  app.route('/', totpPageRoutes({ ...body, log }));
  app.route('/', assetRoutes());
  // Browsers ask for it on every site; there is none, and that need not be asked again.
  app.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }));
  app.notFound((c) => {
    const format = formatFor(c);
    const message = format === 'page' ? MESSAGES.NO_SUCH_PAGE : MESSAGES.NO_SUCH_ROUTE;
    return renderError(c, new RpcError(Status.NOT_FOUND, message), format);
  });
  app.onError(errorHandler(log, 'json'));
  return app;
}

/** Browsers navigating ask for text/html first; API clients do not. */
function formatFor(c: Context) {
  const accept = c.req.header('accept');
  return accept !== undefined && /^text\/html\b/i.test(accept.trim()) ? 'page' : 'json';
}
