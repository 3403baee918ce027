/**
 * The audit trail of the changes people make to their own account: one
 * structured log line per password change, deletion, picture removal,
 * session ended from the list of sessions, step of setting two-step login up
 * or off, and code given at a login with two-step login, saying who (the
 * user, from which address, in which HTTP request), what, and with what
 * result. Like the admin audit, only ids, usernames, action names and status
 * names have a field here: no password, token or hash can reach the log
 * through this module.
 */
import type { Logger } from '../log.ts';
import { Status, statusName } from '../wire/status.ts';

export type AccountAction =
  | 'change-password'
  | 'delete-account'
  | 'remove-picture'
  | 'end-session'
  | 'totp-start'
  | 'totp-confirm'
  | 'totp-disable'
  // The code of a login with two-step login (a wrong one: someone has the password).
  | 'two-step-login'
  | 'recovery-code-login';

/** Where a call came from, as the TCP server learns it from the request. */
export interface AccountCaller {
  requestId: string;
  clientIp: string;
}

/** Results worth an operator's attention (a wrong password may be someone guessing). */
const WARN = new Set([
  Status.UNAUTHENTICATED,
  Status.OTP_REQUIRED,
  Status.RESOURCE_EXHAUSTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
]);

export function writeAccountAudit(
  log: Logger,
  caller: AccountCaller,
  action: AccountAction,
  user: { id: string; username: string } | null,
  result: Status,
): void {
  const line = {
    audit: 'account',
    clientIp: caller.clientIp,
    requestId: caller.requestId,
    action,
    userId: user?.id,
    username: user?.username,
    result: statusName(result),
  };
  if (WARN.has(result)) log.warn(line, 'account action');
  else log.info(line, 'account action');
}
