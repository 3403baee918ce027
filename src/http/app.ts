import { Hono } from 'hono';
import type { Config } from '../config.ts';
import type { Registry } from '../lib/metrics.ts';
import type { Logger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';
import { createErrorHandler, errorJson } from './errors.ts';
import { everyRequest } from './middleware/every-request.ts';
import { errorPage } from './page-errors.tsx';
import { adminUserRoutes } from './routes/admin-users.ts';
import { assetRoutes } from './routes/assets.ts';
import { healthRoutes } from './routes/health.ts';
import { meRoutes } from './routes/me.ts';
import { openApiRoutes } from './routes/open-api.ts';
import { openApiJsonRoutes } from './routes/openapi-json.ts';
import { pageRoutes } from './routes/pages.tsx';
import { pictureRoutes } from './routes/pictures.ts';
import { profileRoutes } from './routes/profile.tsx';

export interface AppDeps {
  rpc: RpcClient;
  config: Config;
  log: Logger;
  /** Served at /metrics when given. */
  metrics?: Registry;
  /** True once the server is shutting down: /readyz then answers 503. */
  draining?: () => boolean;
}

/**
 * The HTTP server's application: routing, validation, cookies and pages.
 * It holds no business logic; every decision is made by the TCP server.
 */
export function createApp(deps: AppDeps) {
  const app = new Hono();
  app.use(
    everyRequest({
      metrics: deps.metrics ?? null,
      log: deps.log,
      refuseCrossSite: (c, message) =>
        wantsHtml(c.req.header('accept'))
          ? errorPage(c, 403, message)
          : errorJson(c, 403, 'PERMISSION_DENIED', message),
    }),
  );
  app.route('/', healthRoutes(deps.rpc, deps.draining ?? (() => false)));
  if (deps.metrics) {
    const registry = deps.metrics;
    app.get('/metrics', async (c) =>
      c.text(await registry.metrics(), 200, { 'Content-Type': registry.contentType }),
    );
  }
  app.route('/', openApiRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', adminUserRoutes(deps));
  app.route('/', openApiJsonRoutes());
  app.route('/', pictureRoutes(deps));
  app.route('/', pageRoutes(deps));
  app.route('/', profileRoutes(deps));
  app.route('/', assetRoutes());
  // Browsers ask for it on every site; there is none, and that need not be asked again.
  app.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }));
  app.notFound((c) =>
    wantsHtml(c.req.header('accept'))
      ? errorPage(c, 404, 'there is no page at this address')
      : errorJson(c, 404, 'NOT_FOUND', 'no such route'),
  );
  app.onError(createErrorHandler(deps.log));
  return app;
}

/** Browsers navigating ask for text/html first; API clients do not. */
function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /^text\/html\b/i.test(accept.trim());
}
