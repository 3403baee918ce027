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
import { Sampler } from '../lib/sampler.ts';
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

/**
 * Lines of actions without a session (refused before one was found, whatever
 * the reason), at most NO_SESSION_BURST a window (see AccountAudit).
 */
const NO_SESSION_WINDOW_MS = 10_000;
const NO_SESSION_BURST = 100;
const NO_SESSION = 'no-session';

/**
 * Writes the lines. An action whose session was refused (none, a forged or
 * ended token) is nobody's: anyone can send those as fast as the network
 * allows, and a line each buried the log (an attack pass: 19,817 lines, 4.4
 * MB, in 10 s from one client). Those lines are sampled as the admin API's
 * refused tokens are: the first NO_SESSION_BURST of each window, then one
 * count of those left out, with the next line or at the window's end. Lines
 * of a user's own actions are never left out.
 */
export class AccountAudit {
  private readonly sessionless: Sampler;

  constructor(
    private readonly log: Logger,
    /** Monotonic; tests give their own. */
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.sessionless = new Sampler(NO_SESSION_WINDOW_MS, NO_SESSION_BURST, (_, leftOut) =>
      this.log.warn(
        // Their results may differ (most UNAUTHENTICATED): only the count is said.
        { audit: 'account', noSessionSinceLastLine: leftOut },
        'account action',
      ),
    );
  }

  write(
    caller: AccountCaller,
    action: AccountAction,
    user: { id: string; username: string } | null,
    result: Status,
  ): void {
    let leftOut = 0;
    if (user === null) {
      const passed = this.sessionless.pass(NO_SESSION, this.clock());
      if (passed === null) return;
      leftOut = passed;
    }
    const line = {
      audit: 'account',
      clientIp: caller.clientIp,
      requestId: caller.requestId,
      action,
      userId: user?.id,
      username: user?.username,
      noSessionSinceLastLine: leftOut > 0 ? leftOut : undefined,
      result: statusName(result),
    };
    if (WARN.has(result)) this.log.warn(line, 'account action');
    else this.log.info(line, 'account action');
  }
}
