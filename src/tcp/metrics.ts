/**
 * The TCP server's metrics: per-call latency, store and cache latency and
 * errors (by wrapping the ports), cache hits, misses and bypasses, the slow
 * hash's queue, wait and duration, the credential memo, and the server's own
 * connections and calls in flight. Served with the health endpoints on
 * TCP_METRICS_PORT (src/tcp/ops-server.ts).
 */
import type { Cache } from '../cache/port.ts';
import type { CachedUsers } from '../core/cached-users.ts';
import type { CredentialMemo } from '../core/credential-memo.ts';
import type { Passwords } from '../core/passwords.ts';
import type { RateLimits } from '../core/rate-limits.ts';
import type { SessionList } from '../core/session-list.ts';
import {
  counterFrom,
  createRegistry,
  gaugeFrom,
  histogram,
  type Registry,
  timed,
} from '../lib/metrics.ts';
import { noReplicaObserver, type ReplicaObserver } from '../store/mysql/replicas.ts';
import type { UserStore } from '../store/port.ts';
import { statusName } from '../wire/status.ts';
import type { DispatchObserver } from './dispatch.ts';
import type { TcpServer } from './server.ts';

export interface TcpMetrics {
  registry: Registry;
  observeCall: DispatchObserver;
  /** For Passwords: how long a slow hash waited for a thread and how long it ran. */
  observeHash(waitedMs: number, ranMs: number): void;
  timedStore(store: UserStore): UserStore;
  timedCache(cache: Cache): Cache;
  /** For the MySQL replicas: rotation, lag, reads and fallbacks to the primary. */
  replicas: ReplicaObserver;
  /** Registers the gauges and counters read from the running parts. */
  watch(parts: {
    server: TcpServer;
    users: CachedUsers;
    memo: CredentialMemo;
    passwords: Passwords;
    limits: RateLimits;
    sessions: SessionList;
  }): void;
}

/** Metrics that record nothing: what the server costs without them (METRICS_ENABLED=false). */
export function noTcpMetrics(): TcpMetrics {
  return {
    registry: createRegistry('tcp', false),
    observeCall: () => {},
    observeHash: () => {},
    timedStore: (target) => target,
    timedCache: (target) => target,
    replicas: noReplicaObserver,
    watch: () => {},
  };
}

/** The replicas' state as the last check and reads left it, read at scrape time. */
function replicaMetrics(registry: Registry): ReplicaObserver {
  const inRotation: Record<string, number> = {};
  const lagS: Record<string, number> = {};
  const changes: Record<string, number> = {};
  const reads: Record<string, number> = {};
  const fallbacks: Record<string, number> = {};
  const metric = (name: string, help: string, read: () => Record<string, number>) =>
    name.endsWith('_total')
      ? counterFrom(registry, name, help, read, 'replica')
      : gaugeFrom(registry, name, help, read, 'replica');
  metric(
    'usermgr_mysql_replica_in_rotation',
    'MySQL replicas serving reads (1) or not (0).',
    () => inRotation,
  );
  metric(
    'usermgr_mysql_replica_lag_seconds',
    'How far each replica was behind the primary at its last check (+Inf: beyond what is measured; NaN: it did not answer).',
    () => lagS,
  );
  metric(
    'usermgr_mysql_replica_rotation_changes_total',
    'Entries into and exits from rotation (the first check counts as one).',
    () => changes,
  );
  metric('usermgr_mysql_replica_reads_total', 'Reads sent to each replica.', () => reads);
  metric(
    'usermgr_mysql_replica_fallbacks_total',
    'Reads a replica failed, answered by the primary instead.',
    () => fallbacks,
  );
  const add = (counts: Record<string, number>, replica: string) => {
    counts[replica] = (counts[replica] ?? 0) + 1;
  };
  return {
    checked(replica, lagMs) {
      lagS[replica] = lagMs === null ? Number.NaN : lagMs / 1000;
    },
    rotation(replica, serving) {
      inRotation[replica] = serving ? 1 : 0;
      add(changes, replica);
    },
    read(replica, result) {
      add(reads, replica);
      if (result === 'fallback') add(fallbacks, replica);
    },
  };
}

export function createTcpMetrics(): TcpMetrics {
  const registry = createRegistry('tcp');
  const calls = histogram(
    registry,
    'usermgr_tcp_call_duration_seconds',
    'Calls served, by call and status.',
    ['call', 'status'],
  );
  const store = histogram(
    registry,
    'usermgr_store_duration_seconds',
    'Store operations, by operation and outcome.',
    ['operation', 'outcome'],
  );
  const cache = histogram(
    registry,
    'usermgr_cache_duration_seconds',
    'Cache operations, by operation and outcome.',
    ['operation', 'outcome'],
  );
  const hashWait = histogram(
    registry,
    'usermgr_hash_wait_seconds',
    'Time slow hashes waited for a free thread.',
    [],
  );
  const hashRun = histogram(
    registry,
    'usermgr_hash_duration_seconds',
    'Time slow hashes (argon2id) ran.',
    [],
  );
  return {
    registry,
    observeCall(call, status, seconds) {
      calls.observeWith([call, statusName(status)], seconds);
    },
    observeHash(waitedMs, ranMs) {
      hashWait.observe(waitedMs / 1000);
      hashRun.observe(ranMs / 1000);
    },
    timedStore: (target) => timed(target, store),
    timedCache: (target) => timed(target, cache),
    replicas: replicaMetrics(registry),
    watch({ server, users, memo, passwords, limits, sessions }) {
      counterFrom(
        registry,
        'usermgr_rate_limited_total',
        'Attempts refused by a rate limit, by limit.',
        () => ({ ...limits.counts }),
        'limit',
      );
      gaugeFrom(
        registry,
        'usermgr_tcp_connections',
        'Open client connections.',
        () => server.connections,
      );
      gaugeFrom(registry, 'usermgr_tcp_in_flight', 'Calls being served.', () => server.inFlight);
      counterFrom(
        registry,
        'usermgr_cache_lookups_total',
        'User lookups by where they were answered.',
        () => ({
          hit: users.counts.hits,
          miss: users.counts.misses,
        }),
      );
      counterFrom(
        registry,
        'usermgr_cache_bypassed_total',
        'User lookups sent to the store because the cache was unreachable.',
        () => users.counts.bypassed,
      );
      counterFrom(
        registry,
        'usermgr_store_user_reads_total',
        'User reads that reached the store.',
        () => users.counts.storeReads,
      );
      gaugeFrom(
        registry,
        'usermgr_hash_queue_depth',
        'Slow hashes waiting for a thread.',
        () => passwords.queueDepth,
      );
      counterFrom(
        registry,
        'usermgr_hash_total',
        'Slow hashes run, by kind (hash, verify, strength: a new password estimated); cancelled: dropped unstarted, their caller gone.',
        () => ({ ...passwords.counts }),
        'kind',
      );
      counterFrom(
        registry,
        'usermgr_memo_lookups_total',
        'Credential memo lookups at login.',
        () => ({
          hit: memo.counts.hits,
          miss: memo.counts.misses,
        }),
      );
      gaugeFrom(
        registry,
        'usermgr_memo_entries',
        'Entries in the credential memo.',
        () => memo.size,
      );
      gaugeFrom(
        registry,
        'usermgr_session_list_pending',
        'Listed sessions waiting for the store (being written included).',
        () => sessions.pending,
      );
      counterFrom(
        registry,
        'usermgr_session_list_dropped_total',
        'Listed sessions dropped because the store could not take them in time.',
        () => sessions.dropped,
      );
    },
  };
}
