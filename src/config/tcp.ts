/** Where the TCP server listens and what one connection may hold. */
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PENDING_HANDSHAKES } from '../wire/handshake.ts';
import type { Reader } from './reader.ts';
import { readSharedSecrets } from './secrets.ts';
import { host, int } from './variable.ts';

const MiB = 1024 * 1024;

/** Also read by the HTTP server's pool, for the default of TCP_ADDRS. */
export const tcpAddressVariables = {
  host: host('TCP_HOST', { default: '127.0.0.1', doc: 'where the TCP server listens' }),
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
  minFrameBytesPerS: int('TCP_MIN_FRAME_BYTES_PER_S', {
    default: 65_536,
    min: 0,
    max: 1024 * MiB,
    doc: 'a partial frame arriving slower than this after its first 2 s is closed; 0: no floor',
  }),
  idleTimeoutMs: int('TCP_IDLE_TIMEOUT_MS', {
    default: 60_000,
    min: 1000,
    max: 86_400_000,
    doc: 'a connection that sends no byte for this long, with no call in progress, is closed',
  }),
  handshakeTimeoutMs: int('TCP_HANDSHAKE_TIMEOUT_MS', {
    default: DEFAULT_HANDSHAKE_TIMEOUT_MS,
    min: 100,
    max: 60_000,
    doc: 'with TCP_SHARED_SECRET: a connection that has not proved itself this long is closed',
  }),
  maxPendingHandshakes: int('TCP_MAX_PENDING_HANDSHAKES', {
    default: DEFAULT_MAX_PENDING_HANDSHAKES,
    min: 1,
    max: 100_000,
    doc: 'connections still proving themselves; a new one beyond this closes the oldest',
  }),
  /** /metrics, /healthz and /readyz of the TCP server, on TCP_HOST. */
  metricsPort: int('TCP_METRICS_PORT', {
    default: 9464,
    min: 0,
    max: 65535,
    doc: "the TCP server's /metrics, /healthz and /readyz (on TCP_HOST)",
  }),
};

/** True for an address only this machine can connect to. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
  );
}

/**
 * The listener and its limits. A TCP server reachable from other machines
 * must ask for TCP_SHARED_SECRET: without it, anyone who reaches the port
 * could call the business logic directly, past every check of the HTTP server.
 */
export function readTcp(read: Reader) {
  const tcp = read.all(tcpVariables);
  const sharedSecrets = readSharedSecrets(read);
  if (sharedSecrets.length === 0 && !isLoopback(tcp.host)) {
    read.problem(
      tcpVariables.host,
      tcp.host,
      'a loopback address (127.0.0.1, ::1) unless TCP_SHARED_SECRET is set: other machines ' +
        'could call the TCP server directly. Set the same TCP_SHARED_SECRET on the TCP and ' +
        'HTTP servers (e.g. `openssl rand -base64 32`), or TCP_HOST=127.0.0.1',
    );
  }
  return { ...tcp, sharedSecrets };
}
