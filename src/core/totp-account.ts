/**
 * Two-step login as the session's user sets it up and turns it off: each
 * call checks the session (and a form's anti-CSRF token) through Accounts,
 * and each change writes one `audit: "account"` line. The rules are in
 * two-step.ts.
 */
import type { Deadline } from '../lib/deadline.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { AccountCaller } from './account-audit.ts';
import type { Accounts, SessionAuth } from './accounts.ts';
import { valid } from './new-account.ts';
import type { Enrolment, TwoStep } from './two-step.ts';
import { normalizePassword } from './validation.ts';

export class TotpAccount {
  constructor(
    private readonly accounts: Accounts,
    private readonly twoStep: TwoStep,
  ) {}

  /** A new secret to set up (refused while two-step login is on). */
  start(auth: SessionAuth, deadline: Deadline, caller: AccountCaller): Promise<Enrolment> {
    return this.accounts.audited(auth, caller, 'totp-start', deadline, (user, session) =>
      this.twoStep.start(user, session.sessionId),
    );
  }

  /** Whether it is on, how many recovery codes are left, and the secret being set up. */
  async state(auth: SessionAuth, deadline: Deadline) {
    const { user, claims } = await this.accounts.authenticate(auth, deadline);
    return this.twoStep.state(user, claims.sessionId);
  }

  /**
   * A first code turns it on, once the password is confirmed as for a
   * password change (counted against the session); answers the recovery
   * codes, shown once. The password is asked here, where it takes effect:
   * with the session alone, a thief could turn it on with their own app (a
   * secret of their own, or the one the owner left pending) and keep the
   * owner out.
   */
  confirm(
    auth: SessionAuth,
    input: { code: string; password: string },
    deadline: Deadline,
    caller: AccountCaller,
  ): Promise<string[]> {
    return this.accounts.audited(auth, caller, 'totp-confirm', deadline, async (user, session) => {
      if (user.totpSecret !== '') return this.twoStep.confirm(user, session.sessionId, input.code); // refused: it is on
      const password = valid(normalizePassword(input.password), 'password');
      const { clientIp } = caller;
      await this.accounts.verifyPassword(user, session, password, 'password', clientIp, deadline);
      return this.twoStep.confirm(user, session.sessionId, input.code);
    });
  }

  /**
   * Turning it off needs the password and a code (or a recovery code), each
   * checked and counted as at a login: a stolen session must not be enough
   * to take the second step away.
   */
  disable(
    auth: SessionAuth,
    input: { password: string; code: string },
    deadline: Deadline,
    caller: AccountCaller,
  ): Promise<void> {
    return this.accounts.audited(auth, caller, 'totp-disable', deadline, async (user, session) => {
      if (user.totpSecret === '') throw new RpcError(Status.NOT_FOUND, MESSAGES.TOTP_NOT_ON);
      const password = valid(normalizePassword(input.password), 'password');
      const { clientIp } = caller;
      await this.accounts.verifyPassword(user, session, password, 'password', clientIp, deadline);
      await this.accounts.confirmCode(user, session, input.code, clientIp, deadline);
      await this.twoStep.disable(user);
    });
  }
}
