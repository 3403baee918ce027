/**
 * The audit trail of the admin API: one structured log line per admin call,
 * saying who (the admin token's holder, from which address, in which HTTP
 * request), what (the action), to which user, and with what result.
 *
 * Only the fields below are ever written: ids, usernames, picture names,
 * field names, counts and status names. Passwords, tokens and hashes have no
 * field here, so they cannot reach the log through this module, whatever
 * the logger's redaction does.
 */
import type { Logger } from '../log.ts';
import { Status, statusName } from '../wire/status.ts';

export type AdminAction = 'create' | 'get' | 'update' | 'delete' | 'list';

export const ADMIN_ACTIONS: readonly AdminAction[] = ['create', 'get', 'update', 'delete', 'list'];

/** 'unknown': a refused request named no action this server knows (a newer HTTP server). */
export type AuditAction = AdminAction | 'unknown';

/** Who is calling, as the TCP server learns it from the request. */
export interface AdminCaller {
  /** The bearer token as presented; checked, never logged. */
  token: string;
  requestId: string;
  clientIp: string;
}

/** What an action adds to its audit line as it learns it. */
export interface AuditNote {
  userId?: string;
  username?: string;
  /** Names of the fields an update was asked to change (never their values). */
  fields?: string[];
  /** The picture a deleted user had, for the clean-up trail. */
  picture?: string;
  usernamePrefix?: string;
  /** Users on a listed page. */
  count?: number;
  /** Set when the HTTP server refused the request before making the call. */
  refusedBy?: 'http';
  /** Refusals of a wrong token from this client left out of the log since its last line. */
  deniedSinceLastLine?: number;
  /** The caller showed no valid admin token: the line names no actor. */
  tokenRefused?: true;
}

/** Results worth an operator's attention; the rest are routine. */
const WARN = new Set([
  Status.UNAUTHENTICATED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.RESOURCE_EXHAUSTED,
]);

/** Writes the one audit line of an admin call. */
export function writeAudit(
  log: Logger,
  caller: AdminCaller,
  action: AuditAction,
  note: AuditNote,
  result: Status,
): void {
  const line = {
    audit: 'admin',
    // There is one admin token, so "who" is its holder, told apart by address and
    // request; a refused token is nobody's.
    actor: note.tokenRefused ? 'unauthenticated' : 'admin-token',
    clientIp: caller.clientIp,
    requestId: caller.requestId,
    action,
    userId: note.userId,
    username: note.username,
    fields: note.fields,
    picture: note.picture,
    usernamePrefix: note.usernamePrefix,
    count: note.count,
    refusedBy: note.refusedBy,
    deniedSinceLastLine: note.deniedSinceLastLine,
    result: statusName(result),
  };
  if (WARN.has(result)) log.warn(line, 'admin action');
  else log.info(line, 'admin action');
}

/** The refusals of a wrong token left out of the log, when no later refusal's line carried them. */
export function writeDeniedCount(log: Logger, deniedSinceLastLine: number): void {
  const line = { audit: 'admin', actor: 'unauthenticated', deniedSinceLastLine };
  log.warn({ ...line, result: statusName(Status.UNAUTHENTICATED) }, 'admin action');
}
