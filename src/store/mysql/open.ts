import { MysqlExecutor } from './executor.ts';
import { createMysqlPool, SESSION_SET_UP } from './pool.ts';
import { MysqlStore } from './store.ts';

export interface MysqlStoreOptions {
  poolSize: number;
  queueLimit: number;
  queueTimeoutMs: number;
  queryTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * A MySQL store on a new pool. Connects lazily: nothing touches the network
 * until the first call, so this never fails; migrations are src/store/open.ts's job.
 */
export function createMysqlStore(url: string, options: MysqlStoreOptions): MysqlStore {
  const pool = createMysqlPool(url, options);
  return new MysqlStore(new MysqlExecutor(pool, options, SESSION_SET_UP));
}
