/**
 * The admin calls of the contract, served by AdminUsers: protobuf in,
 * service arguments out, and back. No decisions are made here.
 */
import type { AdminCaller, AdminUsers } from '../core/admin-users.ts';
import type { UserRow } from '../store/port.ts';
import { toUser } from './convert.ts';
import type { CallContext, Handlers } from './dispatch.ts';

export function adminHandlers(admin: AdminUsers): Handlers {
  return {
    adminCreateUser: async (req, ctx) =>
      answer(await admin.create(caller(req, ctx), req, ctx.deadline)),
    adminGetUser: async (req, ctx) => answer(await admin.get(caller(req, ctx), req.id)),
    adminUpdateUser: async (req, ctx) => {
      const changes = {
        nickname: req.nickname,
        password: req.password,
        username: req.username,
        twoStep: req.twoStep,
      };
      return answer(await admin.update(caller(req, ctx), req.id, changes, ctx.deadline));
    },
    adminDeleteUser: async (req, ctx) => {
      await admin.delete(caller(req, ctx), req.id);
      return {};
    },
    adminListUsers: async (req, ctx) => {
      const page = await admin.list(caller(req, ctx), {
        limit: req.limit,
        cursor: req.cursor,
        usernamePrefix: req.usernamePrefix,
      });
      return {
        users: page.users.map(toUser),
        nextCursor: page.nextCursor,
        twoStep: page.users.map(twoStepOn),
      };
    },
    adminCheck: (req, ctx) => {
      admin.check(caller(req, ctx), req.action, req.userId, req.refusal);
      return {};
    },
  };
}

function answer(row: UserRow) {
  return { user: toUser(row), twoStep: twoStepOn(row) };
}

function twoStepOn(row: UserRow): boolean {
  return row.totpSecret !== '';
}

function caller(request: { adminToken: string }, context: CallContext): AdminCaller {
  return { token: request.adminToken, requestId: context.requestId, clientIp: context.clientIp };
}
