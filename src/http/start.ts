import type { Server } from 'bun';
import type { HttpConfig } from '../config/http-config.ts';
import { withTimeout } from '../lib/deadline.ts';
import type { Registry } from '../lib/metrics.ts';
import type { Logger } from '../log.ts';
import { createRpcClient } from '../rpc/client.ts';
import { Pool } from '../rpc/pool.ts';
import { watchAddresses } from '../rpc/resolve.ts';
import { createApp } from './app.ts';
import { MAX_REQUEST_BODY_BYTES } from './limits.ts';
import { createHttpMetrics } from './metrics.ts';
import { serveMetrics } from './metrics-port.ts';

export interface HttpApp {
  server: Server<undefined>;
  pool: Pool;
  /** The address to give people: 127.0.0.1 when listening on every interface. */
  url: string;
  /** This process's metrics; null with METRICS_ENABLED=false. */
  metrics: Registry | null;
  /** Where /metrics is served (HTTP_METRICS_PORT); null when this process serves none. */
  metricsUrl: string | null;
  /** Graceful: stop accepting, finish in-flight requests, close the pool. */
  stop(): Promise<void>;
}

/**
 * Builds the pool and the Hono app and starts Bun.serve, and /metrics on
 * HTTP_METRICS_PORT unless `ownMetricsPort` is false (under `npm start`,
 * where the launcher serves every HTTP process's metrics at once). Used by
 * main.ts and the tests.
 */
export function startHttpApp(config: HttpConfig, log: Logger, ownMetricsPort = true): HttpApp {
  const pool = new Pool({ ...config.pool, maxFrameBytes: config.maxFrameBytes }, log);
  const watcher = watchAddresses(pool, config.pool.addresses, {
    refreshMs: config.pool.dnsRefreshMs,
    log,
  });
  pool.warm();
  const metrics = config.metricsEnabled ? createHttpMetrics(pool) : null;
  let draining = false;
  const rpc = createRpcClient(pool, config.pool.callTimeoutMs, metrics?.observeRpc);
  const app = createApp({
    rpc,
    http: config.http,
    log,
    ...(metrics ? { metrics: metrics.registry } : {}),
    draining: () => draining,
  });
  const server = Bun.serve({
    hostname: config.http.host,
    port: config.http.port,
    reusePort: config.http.reusePort,
    fetch: app.fetch,
    // Never Bun's development error page (it shows stack traces).
    development: false,
    // Bun answers 413 itself beyond this; routes set tighter limits of their own.
    maxRequestBodySize: Math.max(MAX_REQUEST_BODY_BYTES, config.maxFrameBytes),
  });
  const registry = metrics?.registry ?? null;
  const metricsServer =
    registry && ownMetricsPort
      ? serveMetrics(
          { host: config.http.host, port: config.http.metricsPort },
          async () => registry,
        )
      : null;
  const url = httpUrl(config.http.host, server);
  const metricsUrl = metricsServer ? `${httpUrl(config.http.host, metricsServer)}metrics` : null;
  log.info({ url, metricsUrl, tcpAddrs: config.pool.addresses }, 'http server listening');
  return {
    server,
    pool,
    url,
    metrics: registry,
    metricsUrl,
    /** Fails readiness, stops accepting, lets in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS), then closes. */
    async stop() {
      draining = true;
      const finished = server.stop();
      const timedOut = await withTimeout(
        finished.then(() => false),
        config.shutdownTimeoutMs,
        () => true,
      );
      if (timedOut) {
        log.warn(
          { pending: server.pendingRequests },
          'requests still running at the shutdown deadline; closing them',
        );
        await server.stop(true);
      }
      metricsServer?.stop(true);
      watcher.stop();
      pool.close();
      log.info('http server stopped');
    },
  };
}

/** The address to give people: 127.0.0.1 when `host` is every interface. */
function httpUrl(
  host: string,
  server: { hostname?: string | undefined; port?: number | undefined },
): string {
  const shown = ['0.0.0.0', '::'].includes(host) ? '127.0.0.1' : (server.hostname ?? host);
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${server.port}/`;
}
