/**
 * The calls of the contract, served by the services: converts protobuf
 * requests to service arguments and service results to protobuf results.
 * No decisions are made here.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AccountCaller } from '../core/account-audit.ts';
import type { Accounts, SessionAuth } from '../core/accounts.ts';
import type { UserSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import type { UserRow } from '../store/port.ts';
import { ACCOUNT_RULES } from '../wire/account-rules.ts';
import type { CallContext, Handlers } from './dispatch.ts';

export function accountHandlers(accounts: Accounts): Handlers {
  return {
    register: async (req, ctx) => ({
      user: toUser(await accounts.register(req, ctx.deadline, ctx.clientIp)),
    }),
    login: async (req, ctx) => {
      const session = await accounts.login(req, ctx.deadline, ctx.clientIp);
      return {
        token: session.token,
        expiresAtMs: BigInt(session.claims.expiresAtMs),
        deviceCookie: session.device.cookie,
        deviceCookieExpiresAtMs: BigInt(session.device.expiresAtMs),
      };
    },
    getProfile: async (req, ctx) => {
      const { user, csrfToken } = await accounts.profile(sessionAuth(req), ctx.deadline);
      return { user: toUser(user), csrfToken };
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
        { currentPassword: req.currentPassword, newPassword: req.newPassword },
        ctx.deadline,
        accountCaller(ctx),
      );
      return { token: session.token, expiresAtMs: BigInt(session.claims.expiresAtMs) };
    },
    deleteAccount: async (req, ctx) => {
      await accounts.deleteAccount(
        sessionAuth(req),
        req.password,
        ctx.deadline,
        accountCaller(ctx),
      );
      return {};
    },
    getAccountRules: () => ACCOUNT_RULES,
  };
}

/** The session a call acts for, as the services take it. */
export function sessionAuth(request: {
  auth?: { token: string; csrfToken?: string };
}): SessionAuth {
  return { token: request.auth?.token ?? '', csrfToken: request.auth?.csrfToken };
}

/** Where an own-account change came from, for its audit line. */
export function accountCaller(context: CallContext): AccountCaller {
  return { requestId: context.requestId, clientIp: context.clientIp };
}

/** A user as callers may see it: never the password hash. */
export function toUser(row: UserRow): MessageInitShape<typeof UserSchema> {
  return {
    id: row.id,
    username: row.username,
    nickname: row.nickname,
    picture: row.picture,
    createdAtMs: BigInt(row.createdAtMs),
    updatedAtMs: BigInt(row.updatedAtMs),
  };
}
