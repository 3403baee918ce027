/** The calls of "Where you're logged in", served by OwnSessions. */
import type { OwnSessions } from '../core/own-sessions.ts';
import { accountCaller, sessionAuth } from './convert.ts';
import type { Handlers } from './dispatch.ts';

export function sessionHandlers(sessions: OwnSessions): Handlers {
  return {
    listSessions: async (req, ctx) => ({
      sessions: (await sessions.list(sessionAuth(req), ctx.deadline)).map((s) => ({
        ...s,
        createdAtMs: BigInt(s.createdAtMs),
        expiresAtMs: BigInt(s.expiresAtMs),
      })),
    }),
    endSession: (req, ctx) =>
      sessions.end(sessionAuth(req), req.id, ctx.deadline, accountCaller(ctx)),
  };
}
