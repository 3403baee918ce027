/** Where the TCP server listens and what one connection may hold. */
import type { Reader } from './reader.ts';
import { int, text } from './variable.ts';

const MiB = 1024 * 1024;

/** Also read by the HTTP server's pool, for the default of TCP_ADDRS. */
export const tcpAddressVariables = {
  host: text('TCP_HOST', { default: '127.0.0.1', doc: 'where the TCP server listens' }),
  port: int('TCP_PORT', { default: 9090, min: 0, max: 65535, doc: 'where the TCP server listens' }),
};

export const tcpVariables = {
  ...tcpAddressVariables,
  maxConnections: int('TCP_MAX_CONNECTIONS', {
    default: 10_000,
    min: 1,
    max: 1_000_000,
    doc: 'sockets beyond this are closed on accept',
  }),
  maxInFlightPerConnection: int('TCP_MAX_IN_FLIGHT_PER_CONNECTION', {
    default: 8192,
    min: 1,
    max: 1_000_000,
    doc: 'requests served at once on one connection; more get RESOURCE_EXHAUSTED',
  }),
  maxBufferedBytesPerConnection: int('TCP_MAX_BUFFERED_BYTES', {
    default: 32 * MiB,
    min: 64 * 1024,
    max: 1024 * MiB,
    doc: 'unread response bytes before a client is cut off',
  }),
  maxPartialFrameBytes: int('TCP_MAX_PARTIAL_FRAME_BYTES', {
    default: 128 * MiB,
    min: 1 * MiB,
    max: 16 * 1024 * MiB,
    doc: 'partial frames buffered across all connections; the one that would pass it is closed',
  }),
  defaultDeadlineMs: int('TCP_DEFAULT_DEADLINE_MS', {
    default: 5000,
    min: 1,
    max: 600_000,
    doc: 'budget of a request that carries none',
  }),
  partialFrameTimeoutMs: int('TCP_PARTIAL_FRAME_TIMEOUT_MS', {
    default: 10_000,
    min: 100,
    max: 600_000,
    doc: 'a connection stuck inside a frame this long is closed',
  }),
  /** /metrics, /healthz and /readyz of the TCP server, on TCP_HOST. */
  metricsPort: int('TCP_METRICS_PORT', {
    default: 9464,
    min: 0,
    max: 65535,
    doc: "the TCP server's /metrics, /healthz and /readyz (on TCP_HOST)",
  }),
};

export function readTcp(read: Reader) {
  return read.all(tcpVariables);
}
