/**
 * The account calls of the contract, served by Accounts: converts protobuf
 * requests to service arguments and service results to protobuf results.
 * No decisions are made here.
 */
import type { Accounts } from '../core/accounts.ts';
import type { Pictures } from '../core/pictures.ts';
import { OtpRequired } from '../core/two-step.ts';
import { ACCOUNT_RULES } from '../wire/account-rules.ts';
import { accountCaller, loginResponse, sessionAuth, toUser } from './convert.ts';
import type { Handlers } from './dispatch.ts';

export function accountHandlers(
  accounts: Accounts,
  pictures: Pick<Pictures, 'release' | 'maxPixels'>,
): Handlers {
  const rules = { ...ACCOUNT_RULES, pictureMaxPixels: pictures.maxPixels };
  return {
    register: async (req, ctx) => ({
      user: toUser(await accounts.register(req, ctx.deadline, ctx.clientIp)),
    }),
    login: async (req, ctx) => {
      try {
        return loginResponse(await accounts.login(req, ctx.deadline, ctx.clientIp, ctx.requestId));
      } catch (err) {
        // The pages asked for the second step's ticket rather than the error.
        if (err instanceof OtpRequired && err.ticket !== null) {
          const { ticket, csrfToken, expiresAtMs } = err.ticket;
          return { secondStep: { ticket, csrfToken, expiresAtMs: BigInt(expiresAtMs) } };
        }
        throw err;
      }
    },
    getProfile: async (req, ctx) => {
      const { user, csrfToken, renewed } = await accounts.profile(
        sessionAuth(req),
        ctx.deadline,
        req.renew,
      );
      return {
        user: toUser(user),
        csrfToken,
        renewed:
          renewed === null
            ? undefined
            : {
                token: renewed.token,
                expiresAtMs: BigInt(renewed.claims.expiresAtMs),
                persistent: renewed.claims.persistent,
              },
      };
    },
    updateNickname: async (req, ctx) => ({
      user: toUser(await accounts.updateNickname(sessionAuth(req), req.nickname, ctx.deadline)),
    }),
    logout: async (req, ctx) => {
      await accounts.logout(sessionAuth(req), ctx.deadline);
      return {};
    },
    logoutAll: async (req, ctx) => {
      await accounts.logoutAll(sessionAuth(req), ctx.deadline);
      return {};
    },
    changePassword: async (req, ctx) => {
      const session = await accounts.changePassword(
        sessionAuth(req),
        {
          currentPassword: req.currentPassword,
          newPassword: req.newPassword,
          code: req.code,
          userAgent: req.userAgent,
        },
        ctx.deadline,
        accountCaller(ctx),
      );
      return {
        token: session.token,
        expiresAtMs: BigInt(session.claims.expiresAtMs),
        persistent: session.claims.persistent,
        deviceCookie: session.device.cookie,
        deviceCookieExpiresAtMs: BigInt(session.device.expiresAtMs),
      };
    },
    deleteAccount: async (req, ctx) => {
      const deleted = await accounts.deleteAccount(
        sessionAuth(req),
        { password: req.password, code: req.code },
        ctx.deadline,
        accountCaller(ctx),
      );
      // Its files go unless another user has the same picture (in the background).
      if (deleted.picture !== '') pictures.release(deleted.picture);
      return {};
    },
    getAccountRules: () => rules,
  };
}
