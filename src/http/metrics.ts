/**
 * The HTTP server's metrics and request log: every request gets an id
 * (X-Request-Id: kept when the client or proxy sent a sane one), is timed
 * into usermgr_http_request_duration_seconds{route,method,status}, and is
 * logged (debug always; info when it failed on our side or was slow).
 * The RPC client reports each call's latency; the pool is read at scrape time.
 */
import type { Context } from 'hono';
import {
  counterFrom,
  createRegistry,
  gaugeFrom,
  histogram,
  type Registry,
} from '../lib/metrics.ts';
import type { Logger } from '../log.ts';
import type { Pool } from '../rpc/pool.ts';
import { setRequestId } from './request-info.ts';

export interface HttpMetrics {
  registry: Registry;
  /** Passed to createRpcClient: latency of every call by name and outcome. */
  observeRpc(call: string, status: string, seconds: number): void;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SLOW_MS = 1000;

export function createHttpMetrics(pool: Pool): HttpMetrics {
  const registry = createRegistry('http');
  const rpc = histogram(
    registry,
    'usermgr_rpc_duration_seconds',
    'Calls to the TCP servers, by call and status.',
    ['call', 'status'],
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

/** What the request log and metrics need from the start of a request. */
export interface RequestTrace {
  requestId: string;
  started: number;
}

/**
 * The request log and histogram, as two calls around the handling of a
 * request (made by the every-request middleware): begin() gives the request
 * its id, end() stamps X-Request-Id on the response, observes and logs it.
 */
export function requestObserver(registry: Registry | null, log: Logger) {
  const requests = registry
    ? histogram(
        registry,
        'usermgr_http_request_duration_seconds',
        'HTTP requests, by route, method and status.',
        ['route', 'method', 'status'],
      )
    : null;
  const debug = log.isLevelEnabled('debug');
  return {
    begin(c: Context): RequestTrace {
      const started = performance.now();
      const given = c.req.raw.headers.get('x-request-id');
      const requestId = given !== null && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
      setRequestId(c.req.raw, requestId);
      return { requestId, started };
    },
    end(c: Context, { requestId, started }: RequestTrace): void {
      c.res.headers.set('X-Request-Id', requestId);
      const ms = performance.now() - started;
      const status = c.res.status;
      const route = c.req.routePath;
      requests?.observeWith([route, c.req.method, String(status)], ms / 1000);
      if (status >= 500 || ms > SLOW_MS) {
        log.info({ requestId, method: c.req.method, route, status, ms: Math.round(ms) }, 'request');
      } else if (debug) {
        log.debug(
          { requestId, method: c.req.method, route, status, ms: Math.round(ms) },
          'request',
        );
      }
    },
  };
}
