/**
 * Picks the storage adapter from the configuration and brings its schema up
 * to date: `openStore` resolves only to a store whose migrations are applied.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { PRIVATE_DIR_MODE } from './data-dir.ts';
import {
  type Engine,
  loadMigrations,
  type MigrationTarget,
  migrate,
  migrationsDir,
} from './migrate.ts';
import { mysqlMigrationTarget } from './mysql/migration-target.ts';
import { createMysqlStore } from './mysql/open.ts';
import type { ReplicaObserver, ReplicaOptions } from './mysql/replicas.ts';
import type { UserStore } from './port.ts';
import { sqliteMigrationTarget } from './sqlite/migration-target.ts';
import { createSqliteStore } from './sqlite/open.ts';

export interface StoreOptions {
  /** `mysql://user:password@host:port/database`; '' selects embedded SQLite. */
  mysqlUrl: string;
  /** Directory of the SQLite file, `usermgr.sqlite` (created when missing). */
  dataDir: string;
  mysql: {
    /** Connections in the pool, and operations in flight at once. */
    poolSize: number;
    /** Operations allowed to wait for a connection; more are refused at once. */
    queueLimit: number;
    /** Longest wait for a connection before UNAVAILABLE 'database busy'. */
    queueTimeoutMs: number;
    /** Longest a single statement may take before UNAVAILABLE. */
    queryTimeoutMs: number;
    connectTimeoutMs: number;
  };
  /** MariaDB replicas of `mysqlUrl` (never with SQLite: the configuration refuses that). */
  replicas?: ReplicaOptions & {
    urls: readonly string[];
    /** Where their rotation and lag are reported (metrics). */
    observer?: ReplicaObserver;
  };
}

/** The SQLite file inside `dataDir`. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'usermgr.sqlite');
}

interface Opened {
  engine: Engine;
  store: UserStore;
  migrations: MigrationTarget;
}

async function openAdapter(options: StoreOptions, log: Logger): Promise<Opened> {
  if (options.mysqlUrl === '') {
    await mkdir(options.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const path = sqlitePath(options.dataDir);
    const store = createSqliteStore(path);
    log.info({ path }, 'store: SQLite');
    return { engine: 'sqlite', store, migrations: sqliteMigrationTarget(store.db) };
  }
  // The URLs may hold passwords: they are never logged.
  const replicas = options.replicas;
  log.info(
    { poolSize: options.mysql.poolSize, replicas: replicas?.urls.length ?? 0 },
    'store: MySQL',
  );
  return {
    engine: 'mysql',
    store: createMysqlStore(
      options.mysqlUrl,
      options.mysql,
      replicas === undefined ? undefined : { ...replicas, log },
    ),
    migrations: mysqlMigrationTarget(options.mysqlUrl, options.mysql.connectTimeoutMs),
  };
}

/**
 * Opens the configured store and applies pending migrations before returning.
 * Fails (after closing what it opened) when the database is unreachable or
 * records a migration this build does not have.
 */
export async function openStore(options: StoreOptions, log: Logger): Promise<UserStore> {
  const { engine, store, migrations } = await openAdapter(options, log);
  try {
    await migrate(migrations, await loadMigrations(migrationsDir(engine)), log);
    return store;
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}
