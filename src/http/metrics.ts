/**
 * The HTTP server's metrics of its calls: the RPC client reports each call's
 * latency; the pool is read at scrape time. Requests are timed and logged
 * by request-log.ts.
 */
import {
  counterFrom,
  createRegistry,
  gaugeFrom,
  histogram,
  type Registry,
} from '../lib/metrics.ts';
import type { Pool } from '../rpc/pool.ts';

export interface HttpMetrics {
  registry: Registry;
  /** Passed to createRpcClient: latency of every call by name and outcome. */
  observeRpc(call: string, status: string, seconds: number): void;
}

export function createHttpMetrics(pool: Pool): HttpMetrics {
  const registry = createRegistry('http');
  const rpc = histogram(
    registry,
    'usermgr_rpc_duration_seconds',
    'Calls to the TCP servers, by call and status.',
    ['call', 'status'],
  );
  // 1 here; summed over the HTTP processes a scrape covers (metrics-port.ts).
  gaugeFrom(
    registry,
    'usermgr_http_processes',
    'HTTP server processes whose metrics this scrape includes.',
    () => 1,
  );
  gaugeFrom(
    registry,
    'usermgr_pool_sockets',
    'Sockets to TCP servers.',
    () => pool.stats().sockets,
  );
  gaugeFrom(
    registry,
    'usermgr_pool_sockets_open',
    'Open sockets to TCP servers.',
    () => pool.stats().open,
  );
  gaugeFrom(
    registry,
    'usermgr_pool_servers_not_answering',
    'TCP servers whose sockets are open but which did not answer a Ping for a second.',
    () => pool.stats().silent,
  );
  gaugeFrom(
    registry,
    'usermgr_pool_in_flight',
    'Calls written and not yet answered.',
    () => pool.stats().inFlight,
  );
  gaugeFrom(
    registry,
    'usermgr_pool_waiting',
    'Calls waiting for a socket with room.',
    () => pool.stats().waiting,
  );
  counterFrom(
    registry,
    'usermgr_pool_rejected_total',
    'Calls failed at once (no server, limits, socket lost).',
    () => pool.stats().rejected,
  );
  counterFrom(
    registry,
    'usermgr_pool_reconnects_total',
    'Reconnection attempts.',
    () => pool.stats().reconnects,
  );
  counterFrom(
    registry,
    'usermgr_pool_connect_failures_total',
    'Connection attempts that failed.',
    () => pool.stats().connectFailures,
  );
  return {
    registry,
    observeRpc: (call, status, seconds) => rpc.observeWith([call, status], seconds),
  };
}
