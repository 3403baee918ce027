import type { Server } from 'bun';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { createRpcClient } from '../rpc/client.ts';
import { Pool } from '../rpc/pool.ts';
import { watchAddresses } from '../rpc/resolve.ts';
import { createApp } from './app.ts';

export interface HttpApp {
  server: Server<undefined>;
  pool: Pool;
  /** The address to give people: 127.0.0.1 when listening on every interface. */
  url: string;
  /** Graceful: stop accepting, finish in-flight requests, close the pool. */
  stop(): Promise<void>;
}

/** Builds the pool and the Hono app and starts Bun.serve. Used by main.ts and the tests. */
export function startHttpApp(config: Config, log: Logger): HttpApp {
  const pool = new Pool({ ...config.pool, maxFrameBytes: config.maxFrameBytes });
  const watcher = watchAddresses(pool, config.pool.addresses, {
    refreshMs: config.pool.dnsRefreshMs,
    log,
  });
  pool.warm();
  const app = createApp({ rpc: createRpcClient(pool, config.pool.callTimeoutMs), config, log });
  const server = Bun.serve({
    hostname: config.http.host,
    port: config.http.port,
    reusePort: config.http.reusePort,
    fetch: app.fetch,
    // Never Bun's development error page (it shows stack traces).
    development: false,
    // Bun answers 413 itself beyond this; routes set tighter limits of their own.
    maxRequestBodySize: config.maxFrameBytes,
  });
  const host = ['0.0.0.0', '::'].includes(config.http.host) ? '127.0.0.1' : server.hostname;
  const url = `http://${host?.includes(':') ? `[${host}]` : host}:${server.port}/`;
  log.info({ url, tcpAddrs: config.pool.addresses }, 'http server listening');
  return {
    server,
    pool,
    url,
    async stop() {
      await server.stop();
      watcher.stop();
      pool.close();
    },
  };
}
