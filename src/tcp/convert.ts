/**
 * Conversions every handler file shares: the session a call acts for, a
 * session just issued, and a user as the contract shows it.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AccountCaller } from '../core/account-audit.ts';
import type { LoginResult, SessionAuth } from '../core/accounts.ts';
import type { LoginResponseSchema, UserSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import type { UserRow } from '../store/port.ts';
import type { CallContext } from './dispatch.ts';

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

/** A session just issued, with its device cookie. */
export function loginResponse(session: LoginResult): MessageInitShape<typeof LoginResponseSchema> {
  return {
    token: session.token,
    expiresAtMs: BigInt(session.claims.expiresAtMs),
    deviceCookie: session.device.cookie,
    deviceCookieExpiresAtMs: BigInt(session.device.expiresAtMs),
    persistent: session.claims.persistent,
  };
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
