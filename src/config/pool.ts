/** The HTTP server's connection pool to the TCP servers. */
import type { Reader } from './reader.ts';
import { readSharedSecrets } from './secrets.ts';
import { tcpAddressVariables } from './tcp.ts';
import { addresses, int } from './variable.ts';

const MiB = 1024 * 1024;

export const poolVariables = {
  addresses: addresses('TCP_ADDRS', {
    default: ['127.0.0.1:9090'],
    computed: true,
    doc: 'TCP servers the pool uses, comma-separated host:port; default TCP_HOST:TCP_PORT',
  }),
  socketsPerAddress: int('POOL_SOCKETS', {
    default: 2,
    min: 1,
    max: 256,
    doc: 'sockets per TCP server address',
  }),
  maxInFlightPerSocket: int('POOL_MAX_IN_FLIGHT', {
    default: 4096,
    min: 1,
    max: 1_000_000,
    doc: 'calls in flight per socket',
  }),
  maxWaiting: int('POOL_MAX_WAITING', {
    default: 10_000,
    min: 0,
    max: 1_000_000,
    doc: 'calls waiting for room; beyond, calls fail at once (503)',
  }),
  maxQueuedBytesPerSocket: int('POOL_MAX_QUEUED_BYTES', {
    default: 32 * MiB,
    min: 64 * 1024,
    max: 1024 * MiB,
    doc: 'unwritten bytes after which a socket takes no new calls',
  }),
  connectTimeoutMs: int('POOL_CONNECT_TIMEOUT_MS', {
    default: 2000,
    min: 10,
    max: 60_000,
    doc: 'connect attempt timeout',
  }),
  backoffBaseMs: int('POOL_BACKOFF_BASE_MS', {
    default: 50,
    min: 1,
    max: 60_000,
    doc: 'reconnect delay: random between 0 and min(MAX, BASE * 2^failures)',
  }),
  backoffMaxMs: int('POOL_BACKOFF_MAX_MS', {
    default: 5000,
    min: 1,
    max: 600_000,
    doc: 'the longest reconnect delay',
  }),
  // At least 100 ms: below, no login that needs a slow hash could finish, and
  // each was refused as "too many sign-ins at once" (a reliability audit).
  callTimeoutMs: int('RPC_TIMEOUT_MS', {
    default: 5000,
    min: 100,
    max: 600_000,
    doc: 'deadline of one call through the pool',
  }),
  dnsRefreshMs: int('POOL_DNS_REFRESH_MS', {
    default: 10_000,
    min: 100,
    max: 3_600_000,
    doc: 'how often names in TCP_ADDRS are looked up again',
  }),
};

/** The pool section; TCP_ADDRS defaults to the one TCP server of TCP_HOST and TCP_PORT. */
export function readPool(read: Reader) {
  const { addresses: _, ...rest } = poolVariables;
  const host = read.read(tcpAddressVariables.host);
  const port = read.read(tcpAddressVariables.port);
  const local = `${host.includes(':') ? `[${host}]` : host}:${port || 9090}`;
  return {
    addresses: read.read(poolVariables.addresses, [local]),
    ...read.all(rest),
    /** What the pool proves itself with: the newest TCP_SHARED_SECRET; '' for none. */
    sharedSecret: readSharedSecrets(read)[0] ?? '',
  };
}
