/**
 * Accounts: sign-up, login, sessions and profile. The one place where these
 * decisions are made; the TCP server calls it, the HTTP server never does.
 */
import { Deadline, SharedDeadline } from '../lib/deadline.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { CachedUsers } from './cached-users.ts';
import type { CredentialMemo } from './credential-memo.ts';
import type { IdGenerator } from './ids.ts';
import { createAccount, newAccount, valid } from './new-account.ts';
import type { Passwords } from './passwords.ts';
import type { RateLimits } from './rate-limits.ts';
import type { Revocations } from './revocations.ts';
import type { SessionClaims, SessionTokens } from './session-tokens.ts';
import { checkNickname, checkUsername, normalizePassword } from './validation.ts';

export interface AccountsDeps {
  store: UserStore;
  users: CachedUsers;
  revocations: Revocations;
  passwords: Passwords;
  memo: CredentialMemo;
  tokens: SessionTokens;
  ids: IdGenerator;
  limits: RateLimits;
  log: Logger;
  now?: () => number;
}

/** What a session-bound call presents: the token, and for form posts the anti-CSRF token. */
export interface SessionAuth {
  token: string;
  csrfToken?: string | undefined;
}

export interface Session {
  user: UserRow;
  claims: SessionClaims;
}

export interface LoginResult extends Session {
  token: string;
}

/** How long a background re-hash may take. */
const REHASH_BUDGET_MS = 30_000;

export class Accounts {
  private readonly now: () => number;
  /** Slow verifications under way, by credential memo key (see login). */
  private readonly verifications = new SingleFlight<boolean>();
  /** The deadline of each verification under way, which its joiners join. */
  private readonly verificationDeadlines = new Map<string, SharedDeadline>();

  constructor(private readonly deps: AccountsDeps) {
    this.now = deps.now ?? Date.now;
  }

  async register(
    input: { username: string; password: string; nickname: string },
    deadline: Deadline,
    clientIp = '',
  ): Promise<UserRow> {
    const { passwords, limits } = this.deps;
    return createAccount(this.deps, newAccount(input), deadline, this.now, async () => {
      passwords.refuseIfFull();
      await limits.admitSlowAttempt(null, clientIp);
    });
  }

  /**
   * Unknown username, wrong password and empty password are answered the
   * same way, after the same slow hash: the answer must not tell an attacker
   * which usernames exist. A throttled username is refused before its
   * password is looked at in any way (memo included), unless the client
   * shows a valid session of that user (its owner cannot be locked out).
   */
  async login(
    input: { username: string; password: string; currentToken?: string },
    deadline: Deadline,
    clientIp = '',
  ): Promise<LoginResult> {
    const { users, memo, limits } = this.deps;
    const username = valid(checkUsername(input.username), 'username');
    const password = valid(normalizePassword(input.password), 'password');
    const [user, attempts] = await Promise.all([
      users.find(username, deadline),
      limits.peekUser(username),
    ]);
    const owner =
      attempts.untilMs > 0 &&
      (await this.holdsSessionOf(input.currentToken ?? '', username, deadline));
    if (!owner) limits.refuseIfThrottled(attempts);
    // An unknown username gets a key of its own (no stored hash starts
    // without '$'), so its concurrent attempts share a hash as a real one's do.
    const credential =
      user === null
        ? memo.key('', username.toLowerCase(), password)
        : memo.key(user.id, user.passwordHash, password);
    if (user !== null && memo.has(credential)) {
      if (attempts.failures > 0) await limits.recordSuccess(username);
    } else {
      // No await between the memo check and joining: a flight is remembered
      // in the memo before it ends, so every credential costs one slow hash.
      const key = owner ? `owner:${credential}` : credential;
      const joined = this.verificationDeadlines.get(key);
      // Every caller of a flight already left: it is being dropped, start anew.
      if (joined?.deadline.cancelled) this.verifications.forget(key);
      else joined?.join(deadline);
      const verified = await this.verifications.run(key, () => {
        const shared = new SharedDeadline(deadline);
        this.verificationDeadlines.set(key, shared);
        return this.verifySlowly(
          user,
          username,
          password,
          credential,
          owner,
          clientIp,
          shared.deadline,
        ).finally(() => {
          if (this.verificationDeadlines.get(key) === shared)
            this.verificationDeadlines.delete(key);
        });
      });
      if (!verified || user === null) throw invalidCredentials();
    }
    // Strictly after sessions_valid_after, so that a login right after
    // "log out everywhere" is not caught by it.
    const issuedAt = Math.max(this.now(), user.sessionsValidAfterMs + 1);
    const { token, claims } = this.deps.tokens.issue(user, issuedAt);
    return { token, claims, user };
  }

  /**
   * The slow hash of a credential the memo did not know, run once for all
   * its concurrent logins and counted as one attempt: admitted (in flight)
   * before, settled after as a failure or a success. It runs under the
   * deadline of the login that started it, cancelled only when every login
   * that joined it is gone (SharedDeadline): one caller hanging up must not
   * end it for the others.
   */
  private async verifySlowly(
    user: UserRow | null,
    username: string,
    password: string,
    credential: string,
    owner: boolean,
    clientIp: string,
    deadline: Deadline,
  ): Promise<boolean> {
    const { passwords, memo, limits } = this.deps;
    // Only attempts that cost a slow hash are admitted and counted: one the
    // full hash queue would refuse is refused before it is counted.
    passwords.refuseIfFull();
    const attempt = await limits.admitSlowAttempt(
      owner ? null : username,
      clientIp,
      deadline.remainingMs(),
    );
    let verified: boolean;
    try {
      if (user === null) {
        await passwords.verifyUnknown(password, deadline);
        verified = false;
      } else verified = await passwords.verify(password, user.passwordHash, deadline);
    } catch (err) {
      await limits.settle(attempt, 'abandoned'); // no verdict: nothing was learnt
      throw err;
    }
    if (verified && user !== null) {
      memo.remember(credential);
      if (passwords.needsRehash(user.passwordHash)) this.rehash(user, password);
    }
    await limits.settle(attempt, verified ? 'success' : 'failure');
    return verified;
  }

  /** True when `token` is a valid session of `username`. */
  private async holdsSessionOf(
    token: string,
    username: string,
    deadline: Deadline,
  ): Promise<boolean> {
    if (token === '') return false;
    try {
      const { user } = await this.authenticate({ token }, deadline);
      return user.username.toLowerCase() === username.toLowerCase();
    } catch {
      return false;
    }
  }

  /**
   * The session behind a token: authentic, unexpired, issued after the
   * user's sessions_valid_after, not revoked, and, for form posts, with the
   * session's anti-CSRF token.
   */
  async authenticate(auth: SessionAuth, deadline: Deadline): Promise<Session> {
    const { tokens, users, revocations } = this.deps;
    const now = this.now();
    const claims = tokens.verify(auth.token, now);
    if (claims === null) throw noSession();
    const [user, revoked] = await Promise.all([
      users.find(claims.username, deadline),
      revocations.isRevoked(claims.sessionId, now, deadline),
    ]);
    if (
      user === null ||
      user.id !== claims.userId ||
      claims.issuedAtMs <= user.sessionsValidAfterMs ||
      revoked
    ) {
      throw noSession();
    }
    if (auth.csrfToken !== undefined && !tokens.csrfMatches(claims.sessionId, auth.csrfToken)) {
      throw new RpcError(
        Status.PERMISSION_DENIED,
        'the form has expired or was not sent from this site: reload the page and try again',
      );
    }
    return { user, claims };
  }

  async profile(
    auth: SessionAuth,
    deadline: Deadline,
  ): Promise<{ user: UserRow; csrfToken: string }> {
    const { user, claims } = await this.authenticate(auth, deadline);
    return { user, csrfToken: this.deps.tokens.csrfToken(claims.sessionId) };
  }

  async updateNickname(auth: SessionAuth, nickname: string, deadline: Deadline): Promise<UserRow> {
    const { user } = await this.authenticate(auth, deadline);
    const value = valid(checkNickname(nickname), 'nickname');
    const updated = await this.deps.store.updateNickname(user.id, value, this.now());
    await this.deps.users.invalidate(user.username);
    if (updated === null) throw noSession();
    return updated;
  }

  async logout(auth: SessionAuth, deadline: Deadline): Promise<void> {
    const { claims } = await this.authenticate(auth, deadline);
    await this.deps.revocations.revoke(
      claims.sessionId,
      claims.userId,
      claims.expiresAtMs,
      this.now(),
    );
  }

  /** Ends every session of the user, this one included. */
  async logoutAll(auth: SessionAuth, deadline: Deadline): Promise<void> {
    const { user } = await this.authenticate(auth, deadline);
    await this.deps.store.endSessions(user.id, this.now());
    await this.deps.users.invalidate(user.username);
  }

  /** Stored with old argon2 parameters: store a new hash, unless the password changed meanwhile. */
  private rehash(user: UserRow, password: string): void {
    const { passwords, store, users, log } = this.deps;
    passwords
      .hash(password, Deadline.after(REHASH_BUDGET_MS))
      .then((fresh) => store.replacePasswordHash(user.id, user.passwordHash, fresh))
      .then((replaced) => (replaced ? users.invalidate(user.username) : undefined))
      .catch((err) =>
        log.warn(
          { err, userId: user.id },
          're-hash after login failed; will retry on a later login',
        ),
      );
  }
}

function invalidCredentials(): RpcError {
  return new RpcError(Status.UNAUTHENTICATED, MESSAGES.BAD_CREDENTIALS);
}

function noSession(): RpcError {
  return new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
}
