/**
 * "Where you're logged in": a user's own live sessions, listed and ended by
 * name. The names shown are handles (SessionTokens.handle), never session
 * ids or tokens. Ending one revokes it (Accounts.endSession) before the
 * answer, so it is refused at once by every TCP server.
 *
 * A listed session is live when it has not expired, began after the user's
 * sessions_valid_after, and is not revoked: the list is only a record
 * (session-list.ts), so each entry is checked as a token would be. The
 * session of the call is always shown, marked, even when the list lost it.
 */
import type { Deadline } from '../lib/deadline.ts';
import type { ListedSession, UserRow } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { AccountCaller } from './account-audit.ts';
import type { Accounts, SessionAuth } from './accounts.ts';
import type { RateLimits } from './rate-limits.ts';
import type { Revocations } from './revocations.ts';
import type { SessionList } from './session-list.ts';
import type { SessionClaims, SessionTokens } from './session-tokens.ts';
import { describeUserAgent } from './user-agent.ts';

export interface OwnSessionsDeps {
  accounts: Accounts;
  sessions: SessionList;
  revocations: Revocations;
  tokens: SessionTokens;
  limits: Pick<RateLimits, 'admitSessionCall'>;
  now?: () => number;
}

/**
 * Listings and endings per user: each reads the store, and a person looks at
 * the list a few times, not hundreds. A burst for a page reloaded a few
 * times in a row, then one every two seconds.
 */
const CALLS_PER_MINUTE = 30;
const CALLS_BURST = 30;

export interface ShownSession {
  /** The handle naming the session to its user. */
  id: string;
  browser: string;
  system: string;
  address: string;
  createdAtMs: number;
  expiresAtMs: number;
  current: boolean;
  persistent: boolean;
}

export class OwnSessions {
  private readonly now: () => number;

  constructor(private readonly deps: OwnSessionsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The session's user's live sessions, newest first, the caller's own marked. */
  async list(auth: SessionAuth, deadline: Deadline): Promise<ShownSession[]> {
    const { user, claims } = await this.deps.accounts.authenticate(auth, deadline);
    await this.deps.limits.admitSessionCall(
      user.id,
      claims.sessionId,
      CALLS_PER_MINUTE,
      CALLS_BURST,
    );
    const live = await this.live(user, claims, deadline);
    return live.map((s) => this.shown(s, claims.sessionId));
  }

  /**
   * Ends the session of the user that `id` names (NOT_FOUND when none of
   * its live sessions has that handle). Answers whether it was the caller's.
   */
  end(
    auth: SessionAuth,
    id: string,
    deadline: Deadline,
    caller: AccountCaller,
  ): Promise<{ current: boolean }> {
    const { accounts, limits, tokens } = this.deps;
    return accounts.audited(auth, caller, 'end-session', deadline, async (user, claims) => {
      await limits.admitSessionCall(user.id, claims.sessionId, CALLS_PER_MINUTE, CALLS_BURST);
      const live = await this.live(user, claims, deadline);
      const target = live.find((s) => tokens.handle(s.sessionId) === id);
      if (target === undefined)
        throw new RpcError(Status.NOT_FOUND, 'no such session: it may have ended already');
      await accounts.endSession(user.id, target.sessionId, target.persistent, target.expiresAtMs);
      return { current: target.sessionId === claims.sessionId };
    });
  }

  private async live(
    user: UserRow,
    claims: SessionClaims,
    deadline: Deadline,
  ): Promise<ListedSession[]> {
    const { sessions, revocations } = this.deps;
    const now = this.now();
    const listed = (await sessions.list(user.id, now)).filter(
      (s) => s.createdAtMs > user.sessionsValidAfterMs,
    );
    const revoked = await Promise.all(
      listed.map((s) =>
        s.sessionId === claims.sessionId
          ? false
          : revocations.isRevoked(s.sessionId, now, deadline),
      ),
    );
    const live = listed.filter((_, i) => !revoked[i]);
    if (!live.some((s) => s.sessionId === claims.sessionId)) {
      // Begun before the list existed, or lost from it: the caller's own session is live.
      live.push({
        sessionId: claims.sessionId,
        userId: user.id,
        createdAtMs: claims.issuedAtMs,
        expiresAtMs: claims.expiresAtMs,
        persistent: claims.persistent,
        address: '',
        userAgent: '',
      });
      live.sort((a, b) => b.createdAtMs - a.createdAtMs);
    }
    return live;
  }

  private shown(session: ListedSession, currentId: string): ShownSession {
    const { browser, system } = describeUserAgent(session.userAgent);
    return {
      id: this.deps.tokens.handle(session.sessionId),
      browser,
      system,
      address: session.address,
      createdAtMs: session.createdAtMs,
      expiresAtMs: session.expiresAtMs,
      current: session.sessionId === currentId,
      persistent: session.persistent,
    };
  }
}
