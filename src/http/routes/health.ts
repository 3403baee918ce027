import { type Context, Hono } from 'hono';
import type { Logger } from '../../log.ts';
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
 * A probe asks every second or faster, so its answers are not logged one by
 * one (the request log keeps /readyz at debug): a change of the answer is,
 * once, with the reason.
 */
export function healthRoutes(rpc: RpcClient, draining: () => boolean, log: Logger) {
  /** The last answer's reason; null: ready; undefined: not asked yet. */
  let last: string | null | undefined;
  const answered = (why: string | null) => {
    if (why === last) return;
    if (why !== null) log.warn({ why }, 'not ready');
    else if (last !== undefined) log.info('ready again');
    last = why;
  };
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      let why: string | null = null;
      if (draining()) why = 'shutting down';
      else {
        try {
          await rpc.call('ping', {}, { timeoutMs: READY_TIMEOUT_MS });
        } catch (err) {
          why = err instanceof RpcError ? err.message : 'TCP server not reachable';
        }
      }
      answered(why);
      return why === null ? c.json({ status: 'ready' }) : notReady(c, why);
    });
}

function notReady(c: Context, why: string) {
  // Retry-After as on every 503 (the document's Unavailable answer): a probe asks again anyway.
  const error = new RpcError(Status.UNAVAILABLE, `not ready: ${why}`, { retryAfterS: 1 });
  return renderError(c, error, 'json');
}
