import { Hono } from 'hono';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';
import { createErrorHandler, errorJson } from './errors.ts';
import { healthRoutes } from './routes/health.ts';

export interface AppDeps {
  rpc: RpcClient;
  config: Config;
  log: Logger;
}

/**
 * The HTTP server's application: routing, validation, cookies and pages.
 * It holds no business logic; every decision is made by the TCP server.
 */
export function createApp({ rpc, log }: AppDeps) {
  const app = new Hono();
  app.route('/', healthRoutes(rpc));
  app.notFound((c) => errorJson(c, 404, 'NOT_FOUND', 'no such route'));
  app.onError(createErrorHandler(log));
  return app;
}
