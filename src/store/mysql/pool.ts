import mysql, { type ConnectionOptions, type Pool } from 'mysql2/promise';

export interface MysqlPoolOptions {
  poolSize: number;
  connectTimeoutMs: number;
}

/**
 * Statements every new connection runs before its first use (see the
 * executor). Strict mode whatever the server default: a value too long for
 * its column must fail, never be silently truncated.
 */
export const SESSION_SET_UP = [
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
];

/** Options shared by the pool and the migration runner's dedicated connection. */
export function connectionOptions(url: string, connectTimeoutMs: number): ConnectionOptions {
  return {
    uri: url,
    charset: 'utf8mb4',
    // BIGINT columns come back as decimal strings: ids reach 2^63-1.
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: connectTimeoutMs,
    // TCP keepalive lets the kernel notice a peer that vanished without a FIN.
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    multipleStatements: false,
    // No caller's stack captured for each statement: mysql2 does it to put
    // the caller in a failed statement's stack, and Bun's
    // Error.captureStackTrace cost about 7 µs each, on every statement (a
    // cached login's session batch, every login with the cache off). Our
    // errors are classified by the executor (errors.ts) and say what failed.
    trace: false,
  };
}

/**
 * A pool of exactly `poolSize` connections. Queueing and its limits belong to
 * the executor's Semaphore, so mysql2 never queues more than it holds.
 */
export function createMysqlPool(url: string, options: MysqlPoolOptions): Pool {
  const pool = mysql.createPool({
    ...connectionOptions(url, options.connectTimeoutMs),
    connectionLimit: options.poolSize,
    maxIdle: options.poolSize,
    waitForConnections: true,
    queueLimit: 0,
  });
  return pool;
}
