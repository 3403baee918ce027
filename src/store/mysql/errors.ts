import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';

/** Socket-level failures, as Node/Bun and mysql2 report them in `code`. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
]);

/**
 * Server error numbers that mean "cannot serve now, try again" rather than a
 * bug. By number, because mysql2 has no names for MariaDB's own (1927, 1969).
 */
const TRANSIENT_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1077, // ER_NORMAL_SHUTDOWN
  1078, // ER_GOT_SIGNAL
  1079, // ER_SHUTDOWN_COMPLETE
  1080, // ER_FORCING_CLOSE
  1152, // ER_ABORTING_CONNECTION
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK: our writes are single statements, so a retry is safe
  1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only during a failover
  1317, // ER_QUERY_INTERRUPTED
  1836, // ER_READ_ONLY_MODE
  1927, // MariaDB ER_CONNECTION_KILLED
  1969, // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
  3024, // MySQL ER_QUERY_TIMEOUT (max_execution_time)
  4031, // MySQL ER_CLIENT_INTERACTION_TIMEOUT: idle connection closed by the server
  // The server refuses writes for a reason its operator must fix, and serves
  // again once fixed: a full disk or table, a table or server made read-only,
  // a privilege taken away. Each was a 500 with a stack per call (a failure
  // audit: 2,457 in 6 s for a revoked INSERT), where reads go on and writes
  // should get a 503 and the throttled log line that names the cause.
  1021, // ER_DISK_FULL
  1026, // ER_ERROR_ON_WRITE
  1030, // ER_GET_ERRNO: an error from the storage engine (28: no space; 165: read only)
  1036, // ER_OPEN_AS_READONLY
  1114, // ER_RECORD_FILE_FULL: the table is full
  1142, // ER_TABLEACCESS_DENIED_ERROR: a privilege taken away while running
  1143, // ER_COLUMNACCESS_DENIED_ERROR
  1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
]);

interface DriverError {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  fatal?: unknown;
}

function fields(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

/**
 * True when the connection that raised `error` must not be used again: the
 * socket is gone or in an unknown state (a timed-out query may still answer
 * later, and its reply would be read as the next query's).
 */
export function isConnectionBroken(error: unknown): boolean {
  const { code, fatal } = fields(error);
  return fatal === true || (typeof code === 'string' && CONNECTION_CODES.has(code));
}

/** True for every failure that says the database is out of reach or overloaded. */
function isOutage(error: unknown): boolean {
  if (isConnectionBroken(error)) return true;
  const { errno, sqlState } = fields(error);
  // SQLSTATE class 08 is "connection exception" in every dialect.
  if (typeof sqlState === 'string' && sqlState.startsWith('08')) return true;
  return typeof errno === 'number' && TRANSIENT_ERRNOS.has(errno);
}

/** Outages become UNAVAILABLE with the driver error as cause; anything else is returned as is. */
export function classifyMysqlError(error: unknown): unknown {
  if (error instanceof RpcError || !isOutage(error)) return error;
  return new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_UNAVAILABLE, {
    retryAfterS: 1,
    cause: error,
  });
}

/** True when an INSERT failed on the named unique key (ER_DUP_ENTRY). */
export function isDuplicateKey(error: unknown, key: string): boolean {
  const { code } = fields(error);
  // The message names the key: "for key 'users_username_uq'" (5.7, MariaDB)
  // or "for key 'users.users_username_uq'" (8.0.19+).
  return code === 'ER_DUP_ENTRY' && String((error as Error).message).includes(key);
}
