/**
 * The two-step login calls of the contract: setting it up and off (served
 * by TotpAccount) and the second step of a login on the pages (Accounts).
 * Conversions only; no decisions are made here.
 */
import type { Accounts } from '../core/accounts.ts';
import type { TotpAccount } from '../core/totp-account.ts';
import { accountCaller, loginResponse, sessionAuth } from './convert.ts';
import type { Handlers } from './dispatch.ts';

export function totpHandlers(accounts: Accounts, totp: TotpAccount): Handlers {
  return {
    startTotp: (req, ctx) => totp.start(sessionAuth(req), ctx.deadline, accountCaller(ctx)),
    getTotp: async (req, ctx) => {
      const state = await totp.state(sessionAuth(req), ctx.deadline);
      return { ...state, pending: state.pending ?? undefined };
    },
    confirmTotp: async (req, ctx) => ({
      recoveryCodes: await totp.confirm(sessionAuth(req), req, ctx.deadline, accountCaller(ctx)),
    }),
    disableTotp: async (req, ctx) => {
      await totp.disable(sessionAuth(req), req, ctx.deadline, accountCaller(ctx));
      return {};
    },
    completeLogin: async (req, ctx) =>
      loginResponse(await accounts.completeLogin(req, ctx.deadline, ctx.clientIp, ctx.requestId)),
  };
}
