import type { Logger } from '../../log.ts';
import { MysqlExecutor } from './executor.ts';
import { createMysqlPool, SESSION_SET_UP } from './pool.ts';
import { type ReplicaObserver, type ReplicaOptions, ReplicaSet } from './replicas.ts';
import { MysqlStore } from './store.ts';

export interface MysqlStoreOptions {
  /** For the primary, and for each replica. */
  poolSize: number;
  queueLimit: number;
  queueTimeoutMs: number;
  queryTimeoutMs: number;
  connectTimeoutMs: number;
  /** How long a timeout refuses new operations at once (executor.ts); tests set their own. */
  breakMs?: number;
}

/** MariaDB replicas of the primary, which take the reads that tolerate lag. */
export interface MysqlReplicas extends ReplicaOptions {
  urls: readonly string[];
  log: Logger;
  observer?: ReplicaObserver;
}

function executor(url: string, options: MysqlStoreOptions): MysqlExecutor {
  return new MysqlExecutor(createMysqlPool(url, options), options, SESSION_SET_UP);
}

/** host:port of a URL, for logs and metrics: the URL itself may hold a password. */
function replicaName(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || '3306'}`;
}

/**
 * A MySQL store on a new pool, and a pool per replica. Connects lazily:
 * nothing touches the network until the first call (the replica checks
 * start at once, in the background), so this never fails; migrations are
 * src/store/open.ts's job.
 */
export function createMysqlStore(
  url: string,
  options: MysqlStoreOptions,
  replicas?: MysqlReplicas,
): MysqlStore {
  const primary = executor(url, options);
  if (replicas === undefined || replicas.urls.length === 0) return new MysqlStore(primary);
  const names = new Set<string>();
  const targets = replicas.urls.map((replicaUrl, i) => {
    let name = replicaName(replicaUrl);
    if (names.has(name)) name = `${name}#${i + 1}`;
    names.add(name);
    return { name, db: executor(replicaUrl, options) };
  });
  const set = new ReplicaSet(primary, targets, replicas, replicas.log, replicas.observer);
  set.start();
  return new MysqlStore(primary, set);
}
