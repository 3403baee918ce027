import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';

/**
 * Error codes that mean the storage cannot serve right now rather than a bug:
 * another process holds the lock past busy_timeout, the disk is full or
 * failing. Prefix matches cover the extended codes (SQLITE_BUSY_SNAPSHOT, ...).
 */
const OUTAGE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR'];

/** Turns an outage into UNAVAILABLE; returns anything else as it is. */
export function classifySqliteError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && OUTAGE_PREFIXES.some((prefix) => code.startsWith(prefix))) {
    return new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_UNAVAILABLE, {
      retryAfterS: 1,
      cause: error,
    });
  }
  return error;
}

/** Runs a synchronous database call, classifying what it throws. */
export function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw classifySqliteError(error);
  }
}
