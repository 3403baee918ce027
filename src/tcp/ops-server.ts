/**
 * The TCP server's small HTTP port (TCP_METRICS_PORT) for operators and
 * orchestrators: GET /metrics (Prometheus), /healthz (the process is alive,
 * depends on nothing) and /readyz (it can serve: not shutting down, and the
 * store answers a trivial query within a second). With METRICS_ENABLED=false
 * there is no registry: /metrics is a 404 that says so (the port stays, for
 * the probes).
 */
import type { Server } from 'bun';
import { withTimeout } from '../lib/deadline.ts';
import type { Registry } from '../lib/metrics.ts';
import { requestPath } from '../lib/request-path.ts';
import type { UserStore } from '../store/port.ts';
import { METHOD_NOT_ALLOWED } from '../wire/status.ts';

const READY_TIMEOUT_MS = 1000;

export function startOpsServer(
  options: { host: string; port: number },
  parts: { registry: Registry | null; store: UserStore; draining: () => boolean },
): Server<undefined> {
  const json = (status: number, body: unknown) => Response.json(body, { status });
  return Bun.serve({
    hostname: options.host,
    port: options.port,
    development: false,
    async fetch(request) {
      const pathname = requestPath(request.url);
      if (request.method !== 'GET')
        return json(405, { error: { code: METHOD_NOT_ALLOWED, message: 'GET only' } });
      if (pathname === '/healthz') return json(200, { status: 'ok' });
      if (pathname === '/metrics' && parts.registry === null)
        return json(404, {
          error: { code: 'NOT_FOUND', message: 'metrics are off (METRICS_ENABLED=false)' },
        });
      if (pathname === '/metrics' && parts.registry !== null) {
        return new Response(await parts.registry.metrics(), {
          headers: { 'Content-Type': parts.registry.contentType },
        });
      }
      if (pathname === '/readyz') {
        if (parts.draining())
          return json(503, { error: { code: 'UNAVAILABLE', message: 'not ready: shutting down' } });
        try {
          await withTimeout(parts.store.ping(), READY_TIMEOUT_MS, () => {
            throw new Error('store ping timed out');
          });
          return json(200, { status: 'ready' });
        } catch (err) {
          return json(503, {
            error: { code: 'UNAVAILABLE', message: `not ready: ${(err as Error).message}` },
          });
        }
      }
      return json(404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
    },
  });
}
