import { type Context, Hono } from 'hono';
import type { RpcClient } from '../../rpc/client.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { renderError } from '../errors.tsx';

/** How long /readyz waits for the TCP server before calling itself not ready. */
const READY_TIMEOUT_MS = 1000;

/**
 * `/healthz`: the process is alive; depends on nothing.
 * `/readyz`: this server can serve, i.e. it is not shutting down and a Ping
 * through the pool succeeds. It names no TCP server: host names and process
 * ids are for the logs, not for whoever can reach the public port.
 */
export function healthRoutes(rpc: RpcClient, draining: () => boolean) {
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      if (draining()) return notReady(c, 'shutting down');
      try {
        await rpc.call('ping', {}, { timeoutMs: READY_TIMEOUT_MS });
        return c.json({ status: 'ready' });
      } catch (err) {
        const message = err instanceof RpcError ? err.message : 'TCP server not reachable';
        return notReady(c, message);
      }
    });
}

function notReady(c: Context, why: string) {
  return renderError(c, new RpcError(Status.UNAVAILABLE, `not ready: ${why}`), 'json');
}
