/**
 * Accounts: sign-up, login, sessions and profile. The one place where these
 * decisions are made; the TCP server calls it, the HTTP server never does.
 */
import { Combiner } from '../lib/combiner.ts';
import { Deadline, SharedDeadline } from '../lib/deadline.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type AccountAction, AccountAudit, type AccountCaller } from './account-audit.ts';
import type { CachedUsers } from './cached-users.ts';
import type { CredentialMemo } from './credential-memo.ts';
import {
  type DeviceClaims,
  type DeviceCookie,
  type DeviceCookies,
  passwordMark,
} from './device-cookies.ts';
import type { IdGenerator } from './ids.ts';
import { createAccount, valid } from './new-account.ts';
import type { Admission, Passwords } from './passwords.ts';
import { CHECK_AFTER_MS } from './picture-checks.ts';
import type { Counted, Own, RateLimits, UserState } from './rate-limits.ts';
import type { Revocations } from './revocations.ts';
import type { SessionList } from './session-list.ts';
import type { SessionClaims, SessionTokens } from './session-tokens.ts';
import { type CodeKind, OtpRequired, type TwoStep } from './two-step.ts';
import { checkNewPassword, checkNickname, checkUsername, normalizePassword } from './validation.ts';

export interface AccountsDeps {
  store: UserStore;
  users: CachedUsers;
  revocations: Revocations;
  passwords: Passwords;
  memo: CredentialMemo;
  tokens: SessionTokens;
  devices: DeviceCookies;
  ids: IdGenerator;
  limits: RateLimits;
  /** Each user's list of live sessions ("Where you're logged in"). */
  sessions: SessionList;
  twoStep: TwoStep;
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

/** Where a login or a password change came from, for the new session's entry in the list. */
export interface ClientSeen {
  clientIp: string;
  userAgent: string;
}

export interface LoginResult extends Session {
  token: string;
  /** A new device cookie for the client to keep. */
  device: DeviceCookie;
}

/** Who a login attempt is, and whom its failures count against (Accounts.judge). */
interface Judged {
  user: UserRow | null;
  /** The username's state. */
  attempts: UserState;
  /**
   * A valid device cookie of this user, or a live session of it, whose own
   * count is not locked: it is exempt from the username's throttle and its
   * failures count there instead. Null: the username counts.
   */
  own: { counted: Own; state: UserState } | null;
  counted: Counted;
  /**
   * A device cookie earned by a login that passed a code: its codes count against
   * itself alone, not the user's count of codes (see secondStep()).
   */
  codesOwn?: boolean;
}

/** The state of a login without a device cookie: nothing to peek. */
const NO_DEVICE: Promise<UserState | null> = Promise.resolve(null);

/** What a flight of slow hashes is keyed by besides the credential: logins counted apart do not share one. */
function flightKey(own: Own | undefined, credential: string): string {
  if (own === undefined) return credential;
  return 'deviceId' in own
    ? `device:${own.deviceId}:${credential}`
    : `session:${own.sessionId}:${credential}`;
}

/** How long a background re-hash may take. */
const REHASH_BUDGET_MS = 30_000;

/** A nickname update waiting to be written, with the row its session check read. */
interface NicknameChange {
  seen: UserRow;
  nickname: string;
  nowMs: number;
}

export class Accounts {
  private readonly now: () => number;
  /** Slow verifications under way, by credential memo key (see login). */
  private readonly verifications = new SingleFlight<boolean>();
  /** The deadline of each verification under way, which its joiners join. */
  private readonly verificationDeadlines = new Map<string, SharedDeadline>();
  /** Nickname updates by user id: those that arrive during one go out as one (see updateNickname). */
  private readonly nicknames = new Combiner<string, NicknameChange, UserRow | null>(
    (id, { seen, nickname, nowMs }) =>
      this.deps.users.update(seen, (expected) =>
        this.deps.store.updateNickname(id, nickname, nowMs, expected),
      ),
    // The store was unavailable for the write before: the group behind it is answered
    // the same at once (503, Retry-After), not sent to wait on the store again.
    (error) => error instanceof RpcError && error.code === Status.UNAVAILABLE,
  );

  private readonly audit: AccountAudit;

  constructor(private readonly deps: AccountsDeps) {
    this.now = deps.now ?? Date.now;
    this.audit = new AccountAudit(deps.log);
  }

  async register(
    input: { username: string; password: string; nickname: string },
    deadline: Deadline,
    clientIp = '',
  ): Promise<UserRow> {
    const { passwords, limits } = this.deps;
    const admission = { clientIp, known: false };
    return createAccount(this.deps, input, deadline, this.now, admission, async () => {
      passwords.refuseIfFull(admission, deadline.remainingMs());
      await limits.admitSlowAttempt(null, clientIp);
    });
  }

  /**
   * Unknown username, wrong password and empty password are answered the
   * same way, after the same slow hash: the answer must not tell an attacker
   * which usernames exist. A throttled username is refused before its
   * password is looked at in any way (memo included), unless the client
   * shows a device cookie or a live session of that user whose own count is
   * not locked: such a login is judged by that count instead (rate-limits.ts),
   * so that its owner cannot be locked out by strangers, and a stolen
   * session is no free way to guess the password.
   */
  async login(
    input: {
      username: string;
      password: string;
      currentToken?: string;
      deviceCookie?: string;
      /** "Keep me logged in". */
      remember?: boolean;
      userAgent?: string;
      otp?: string;
      wantTicket?: boolean;
    },
    deadline: Deadline,
    clientIp = '',
    requestId = '',
  ): Promise<LoginResult> {
    const { memo, limits } = this.deps;
    const username = valid(checkUsername(input.username), 'username');
    const password = valid(normalizePassword(input.password), 'password');
    const remember = input.remember === true;
    const readAtMs = this.now();
    const { user, attempts, own, counted, codesOwn } = await this.judge(username, input, deadline);
    // An unknown username gets a key of its own (no stored hash starts
    // without '$'), so its concurrent attempts share a hash as a real one's do.
    const credential =
      user === null
        ? memo.key('', username.toLowerCase(), password)
        : memo.key(user.id, user.passwordHash, password);
    if (user !== null && memo.has(credential)) {
      // A known device's or session's success clears its own failures, not the
      // username's: its owner logging in must not give a guesser a fresh allowance.
      if (user.totpSecret !== '') {
        // The code's check settles the count (two-step.ts): the password alone resets nothing.
      } else if (own !== null) {
        if (own.state.failures > 0) await limits.recordOwnSuccess(own.counted);
      } else if (attempts.failures > 0) await limits.recordSuccess(username);
    } else {
      // No await between the memo check and joining: a flight is remembered
      // in the memo before it ends, so every credential costs one slow hash.
      // Logins counted differently do not share one.
      const key = flightKey(own?.counted, credential);
      const joined = this.verificationDeadlines.get(key);
      // Every caller of a flight already left: it is being dropped, start anew.
      if (joined?.deadline.cancelled) this.verifications.forget(key);
      else joined?.join(deadline);
      const verified = await this.verifications.run(key, () => {
        const shared = new SharedDeadline(deadline);
        this.verificationDeadlines.set(key, shared);
        // A known device or session is served before strangers in the hash queue.
        const admission = { clientIp, known: own !== null };
        return this.verifySlowly(
          user,
          password,
          credential,
          counted,
          admission,
          shared.deadline,
        ).finally(() => {
          if (this.verificationDeadlines.get(key) === shared)
            this.verificationDeadlines.delete(key);
        });
      });
      if (!verified || user === null) throw invalidCredentials();
    }
    if (user.totpSecret !== '') {
      // The pages' ticket carries "keep me logged in" to the second step.
      const ticket = input.wantTicket === true && !input.otp ? { remember } : null;
      const step = { counted, codesOwn, clientIp, requestId };
      await this.secondStep(user, input.otp ?? '', step, ticket, deadline);
    }
    const seen = { clientIp, userAgent: input.userAgent ?? '' };
    return this.startSession(user, remember, seen, readAtMs);
  }

  /**
   * The second step of a login on the pages: the ticket a correct password
   * earned (login with `wantTicket`), the anti-CSRF token of its form, and
   * the code. Judged and throttled as the login itself; answers a session,
   * kept ("keep me logged in") when the ticket says so.
   */
  async completeLogin(
    input: {
      ticket: string;
      csrfToken: string;
      otp: string;
      currentToken?: string;
      deviceCookie?: string;
      userAgent?: string;
    },
    deadline: Deadline,
    clientIp = '',
    requestId = '',
  ): Promise<LoginResult> {
    const { twoStep } = this.deps;
    const claims = twoStep.openTicket(input.ticket);
    if (claims === null) throw ticketExpired();
    if (!twoStep.ticketFormMatches(claims, input.csrfToken)) throw formExpired();
    const readAtMs = this.now();
    const { user, counted, codesOwn } = await this.judge(claims.username, input, deadline);
    if (
      user === null ||
      user.id !== claims.userId ||
      claims.issuedAtMs <= user.sessionsValidAfterMs ||
      (claims.validAfterMs !== null && claims.validAfterMs !== user.sessionsValidAfterMs) ||
      user.totpSecret === ''
    ) {
      throw ticketExpired();
    }
    // A ticket starts one session. It is taken before its code is looked at,
    // so that of two posts of one ticket one alone uses a code (a recovery
    // code included); a wrong code gives it back for the next try.
    if (!(await twoStep.spendTicket(claims))) throw ticketExpired();
    try {
      const step = { counted, codesOwn, clientIp, requestId };
      await this.secondStep(user, input.otp, step, null, deadline);
    } catch (err) {
      await twoStep.returnTicket(claims);
      throw err;
    }
    const seen = { clientIp, userAgent: input.userAgent ?? '' };
    return this.startSession(user, claims.remember, seen, readAtMs);
  }

  /**
   * Who a login is for and whom its failures count against: the user (one
   * lookup), and with a valid device cookie of that user that is not locked and
   * was earned with its current password, the device. Else the
   * username; once it is throttled, a client that shows a live session of the
   * user is judged by the session's own count (its owner cannot be locked out
   * by strangers, and a stolen session gets no more guesses than a device), and
   * everyone else is refused here, before the password is looked at in any way.
   */
  private async judge(
    username: string,
    input: { currentToken?: string; deviceCookie?: string },
    deadline: Deadline,
  ): Promise<Judged> {
    const { users, limits } = this.deps;
    const claimed = this.deviceOf(input.deviceCookie ?? '', username);
    // Without a device cookie, nothing more than before: one lookup and one peek.
    const [user, attempts, deviceState] = await Promise.all([
      users.find(username, deadline),
      limits.peekUser(username),
      claimed === null ? NO_DEVICE : limits.peekOwn(claimed),
    ]);
    if (
      claimed !== null &&
      deviceState?.untilMs === 0 &&
      user?.id === claimed.userId &&
      // Earned with an earlier password: it proves nothing now.
      claimed.passwordMark === passwordMark(user.passwordHash)
    ) {
      const device = { deviceId: claimed.deviceId };
      const own = { counted: device, state: deviceState };
      return { user, attempts, own, counted: device, codesOwn: claimed.secondStep };
    }
    if (attempts.untilMs > 0) {
      const sessionId = await this.sessionOf(input.currentToken ?? '', username, deadline);
      const state = sessionId === null ? null : await limits.peekOwn({ sessionId });
      if (sessionId !== null && state?.untilMs === 0) {
        const session = { sessionId };
        return { user, attempts, own: { counted: session, state }, counted: session };
      }
      limits.refuseIfThrottled(attempts);
    }
    return { user, attempts, own: null, counted: username };
  }

  /**
   * The code a correct password of an account with two-step login needs,
   * checked and counted as a login attempt (two-step.ts), with an audit line
   * (a wrong code means someone has the password). Without a code: OTP_REQUIRED,
   * carrying a ticket for the pages' second step when `ticket` is given.
   */
  private async secondStep(
    user: UserRow,
    otp: string,
    step: { counted: Counted; codesOwn?: boolean; clientIp: string; requestId: string },
    ticket: { remember: boolean } | null,
    deadline: Deadline,
  ): Promise<void> {
    const { twoStep } = this.deps;
    const { counted, clientIp, requestId } = step;
    if (otp === '') {
      const second = ticket === null ? null : twoStep.ticket(user, ticket.remember);
      throw new OtpRequired(MESSAGES.OTP_REQUIRED, second);
    }
    const caller = { clientIp, requestId };
    let kind: CodeKind | null;
    try {
      // A device that passed a code before is not held by the user's count of codes,
      // which anyone who knows the password can run up (an attack audit: the owner's
      // device refused for minutes); its own count holds its guesses.
      kind = await twoStep.check(user, otp, counted, clientIp, deadline, step.codesOwn !== true);
    } catch (err) {
      this.audit.write(caller, 'two-step-login', user, RpcError.from(err).code);
      throw err;
    }
    const action = kind === 'recovery' ? 'recovery-code-login' : 'two-step-login';
    this.audit.write(caller, action, user, kind === null ? Status.OTP_REQUIRED : Status.OK);
    if (kind === null) throw new OtpRequired(MESSAGES.WRONG_OTP);
  }

  /**
   * A new session and device cookie for a user who has just logged in, put
   * on the user's list of sessions. Issued as of `readAtMs`, when the login
   * began to read `user`, not when its slow hash ended: a "log out everywhere"
   * that lands in between moves sessions_valid_after past that instant, so the
   * list leaves the session out as the token check refuses it. Issued as of the
   * end, it was listed as live until it expired (an integrity audit).
   */
  private async startSession(
    user: UserRow,
    remember: boolean,
    seen: ClientSeen,
    readAtMs: number,
  ): Promise<LoginResult> {
    // Strictly after sessions_valid_after, so that a login right after
    // "log out everywhere" is not caught by it.
    const issuedAt = Math.max(readAtMs, user.sessionsValidAfterMs + 1);
    const { token, claims } = this.deps.tokens.issue(user, issuedAt, remember);
    await this.listSession(claims, seen);
    // Called once every step passed: for a user with two-step login, a code was.
    const device = this.deps.devices.issue(user, issuedAt, user.totpSecret !== '');
    return { token, claims, user, device };
  }

  /**
   * Puts a new session on its user's list (buffered: Redis and the store
   * get it with the next batch), or with `renewal` raises a listed one's
   * expiry.
   */
  private listSession(claims: SessionClaims, seen: ClientSeen, renewal = false): Promise<void> {
    return this.deps.sessions.record(
      {
        sessionId: claims.sessionId,
        userId: claims.userId,
        createdAtMs: claims.issuedAtMs,
        expiresAtMs: claims.expiresAtMs,
        persistent: claims.persistent,
        address: seen.clientIp,
        userAgent: seen.userAgent,
      },
      renewal,
    );
  }

  /** The claims of a valid device cookie of this username; null for anything else. */
  private deviceOf(cookie: string, username: string): DeviceClaims | null {
    if (cookie === '') return null;
    const claims = this.deps.devices.verify(cookie, this.now());
    return claims !== null && claims.username.toLowerCase() === username.toLowerCase()
      ? claims
      : null;
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
    password: string,
    credential: string,
    counted: Counted,
    admission: Admission,
    deadline: Deadline,
  ): Promise<boolean> {
    const { passwords, memo, limits } = this.deps;
    // Only attempts that cost a slow hash are admitted and counted: one the
    // full hash queue would refuse (or could not hash in time) is refused
    // before it is counted.
    passwords.refuseIfFull(admission, deadline.remainingMs());
    const { clientIp } = admission;
    const attempt = await limits.admitSlowAttempt(counted, clientIp, deadline.remainingMs());
    let verified: boolean;
    try {
      if (user === null) {
        await passwords.verifyUnknown(password, deadline, admission);
        verified = false;
      } else verified = await passwords.verify(password, user.passwordHash, deadline, admission);
    } catch (err) {
      await limits.settle(attempt, 'abandoned'); // no verdict: nothing was learnt
      throw err;
    }
    if (verified && user !== null) {
      memo.remember(credential);
      if (passwords.needsRehash(user.passwordHash)) this.rehash(user, password, admission);
    }
    // A right password of an account with a second step is no verdict yet: its code's is.
    const secondStep = user !== null && user.totpSecret !== '';
    await limits.settle(attempt, !verified ? 'failure' : secondStep ? 'abandoned' : 'success');
    return verified;
  }

  /** The session id of `token` when it is a valid session of `username`, else null. */
  private async sessionOf(
    token: string,
    username: string,
    deadline: Deadline,
  ): Promise<string | null> {
    if (token === '') return null;
    try {
      const { user, claims } = await this.authenticate({ token }, deadline);
      return user.username.toLowerCase() === username.toLowerCase() ? claims.sessionId : null;
    } catch {
      return null;
    }
  }

  /**
   * The session behind a token: authentic, unexpired, issued after the
   * user's sessions_valid_after and earned while it had the value it has now
   * (a token from before the valid-after: by its issue time alone), not
   * revoked, and, for form posts, with the session's anti-CSRF token.
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
      (claims.validAfterMs !== null && claims.validAfterMs !== user.sessionsValidAfterMs) ||
      revoked
    ) {
      throw noSession();
    }
    if (auth.csrfToken !== undefined && !tokens.csrfMatches(claims.sessionId, auth.csrfToken)) {
      throw formExpired();
    }
    return { user, claims };
  }

  /**
   * The session's user and anti-CSRF token; with `renew`, and once a quarter
   * of the token's lifetime has passed, also the session in a new token that
   * expires a whole lifetime from now (sliding expiry: a session in use goes
   * on, one left alone ends). Asked for by the HTTP server only for cookies,
   * which it can replace; at most one renewal (and one list write) per
   * quarter of a lifetime, not one per request.
   */
  async profile(
    auth: SessionAuth,
    deadline: Deadline,
    renew = false,
  ): Promise<{
    user: UserRow;
    csrfToken: string;
    renewed: { token: string; claims: SessionClaims } | null;
  }> {
    const { user, claims } = await this.authenticate(auth, deadline);
    const { tokens } = this.deps;
    const csrfToken = tokens.csrfToken(claims.sessionId);
    const now = this.now();
    if (!renew || !tokens.needsRenewal(claims, now) || !renewable(claims, user))
      return { user, csrfToken, renewed: null };
    const renewed = tokens.renew(claims, now, user.sessionsValidAfterMs);
    // The login's address and User-Agent stay (a session begun before the list existed has none).
    await this.listSession(renewed.claims, { clientIp: '', userAgent: '' }, true);
    return { user, csrfToken, renewed };
  }

  /**
   * One store round trip when the row authenticate() read (usually from the
   * cache) is still current: the write is guarded by its version, and the
   * new row goes to the cache with the new version (CachedUsers.update).
   * Updates of one user that arrive while one of theirs is being written
   * are written together when it ends, as one write of the last of them
   * (Combiner): each is answered with the row that write made, carrying
   * its own nickname and time, as if the values had been written one after
   * another and each at once replaced by the next. Without this, a user's
   * updates wait for each other one store write at a time.
   */
  async updateNickname(auth: SessionAuth, nickname: string, deadline: Deadline): Promise<UserRow> {
    const { user } = await this.authenticate(auth, deadline);
    const value = valid(checkNickname(nickname), 'nickname');
    const nowMs = this.now();
    const updated = await this.nicknames.run(user.id, { seen: user, nickname: value, nowMs });
    if (updated === null) throw noSession();
    if (updated.nickname === value && updated.updatedAtMs === nowMs) return updated;
    return { ...updated, nickname: value, updatedAtMs: nowMs };
  }

  async logout(auth: SessionAuth, deadline: Deadline): Promise<void> {
    const { claims } = await this.authenticate(auth, deadline);
    await this.endSession(claims.userId, claims.sessionId, claims.persistent, claims.expiresAtMs);
  }

  /**
   * Revokes one session of the user until every token of it has expired
   * (renewals may have made later ones than the caller knows), then takes
   * it off the list. Refused everywhere once this returns: the revoked list
   * is written to the store and mirrored (revocations.ts).
   */
  async endSession(
    userId: string,
    sessionId: string,
    persistent: boolean,
    expiresAtMs: number,
  ): Promise<void> {
    const { revocations, tokens, sessions, log } = this.deps;
    const now = this.now();
    const until = tokens.latestExpiryMs(persistent, expiresAtMs, now);
    await revocations.revoke(sessionId, userId, until, now);
    // Revoked already: what is left on the list is filtered out when listed.
    await sessions
      .remove(userId, [sessionId])
      .catch((err) => log.warn({ err, userId }, 'taking an ended session off the list failed'));
  }

  /** Ends every session of the user, this one included (device cookies stay: see device-cookies.ts). */
  async logoutAll(auth: SessionAuth, deadline: Deadline): Promise<void> {
    const { user } = await this.authenticate(auth, deadline);
    const { store, users } = this.deps;
    const updated = await users.writing(user.username, () =>
      store.endSessions(user.id, this.now()),
    );
    await this.forgetSessions(user.id, updated?.sessionsValidAfterMs ?? this.now());
  }

  /**
   * Takes the user's sessions begun up to `upTo` (all ended) off the list; for a
   * deleted user, all of them and any a login in flight lists later (SessionList.forgetUser).
   */
  private async forgetSessions(userId: string, upTo: number | 'deleted'): Promise<void> {
    const { sessions, log } = this.deps;
    await (upTo === 'deleted' ? sessions.forgetUser(userId) : sessions.forget(userId, upTo)).catch(
      (err) => log.warn({ err, userId }, 'clearing the list of sessions failed'),
    );
  }

  /**
   * Changes the session's user's password. The current password is checked
   * with a slow hash under the per-address throttle and the session's own
   * count (verifyPassword: a stolen session must not become a free password
   * oracle, and strangers guessing at the username must not block it); the
   * new one by the sign-up rule, and refused when it is the current one.
   * Every session issued until now ends (sessions_valid_after, as "log out everywhere"),
   * and the caller gets a new session issued after that. The credential
   * memo needs no purge: its entries bind the stored hash, and the new hash
   * (new salt) makes every entry of the old credential unmatchable.
   */
  changePassword(
    auth: SessionAuth,
    input: { currentPassword: string; newPassword: string; code?: string; userAgent?: string },
    deadline: Deadline,
    caller: AccountCaller,
  ): Promise<Session & { token: string; device: DeviceCookie }> {
    return this.audited(auth, caller, 'change-password', deadline, async (user, session) => {
      const current = valid(normalizePassword(input.currentPassword), 'current_password');
      const fresh = valid(checkNewPassword(input.newPassword), 'new_password');
      // Refused before any hash: it would change nothing but end the other sessions,
      // which "log out everywhere" does, and people who type it meant another one.
      if (fresh === current)
        throw new RpcError(Status.INVALID_ARGUMENT, MESSAGES.SAME_PASSWORD, {
          field: 'new_password',
        });
      const { clientIp } = caller;
      await this.verifyPassword(user, session, current, 'current_password', clientIp, deadline);
      const code = input.code ?? '';
      askedForCode(user, code);
      const { passwords, store, users, tokens } = this.deps;
      // Estimated once the current password is shown: the estimate is slow work too.
      const admission = { clientIp, known: true };
      const weakness = await passwords.weakness(
        fresh,
        [user.username, user.nickname],
        deadline,
        admission,
      );
      if (weakness !== null) throw invalidArgument(weakness, 'new_password');
      const passwordHash = await passwords.hash(fresh, deadline, admission);
      // The code last, right before the write: a code used up by a change refused
      // afterwards (a weak new password) was lost, a recovery code for good (a review).
      await this.confirmCode(user, session, code, clientIp, deadline);
      // Only over the row this session was checked against: of two changes at once
      // (two sessions, each with the current password), both were answered 200, one
      // password was lost and its client kept a session it could not log in to again
      // (an integrity audit). The later one finds sessions_valid_after moved by the
      // first, which ended its session: it is told so, as it would be a moment later.
      const updated = await users.writing(user.username, () =>
        store.updatePassword(user.id, passwordHash, this.now(), true, user.sessionsValidAfterMs),
      );
      // The row as read back: another writer's password (an administrator's, which
      // checks nothing) landed between this write and its read, and ended this session.
      if (updated === null || updated.passwordHash !== passwordHash) throw noSession();
      await this.forgetSessions(user.id, updated.sessionsValidAfterMs);
      // The new session keeps the old one's "keep me logged in".
      const issuedAt = Math.max(this.now(), updated.sessionsValidAfterMs + 1);
      const { token, claims } = tokens.issue(updated, issuedAt, session.persistent);
      await this.listSession(claims, {
        clientIp,
        userAgent: input.userAgent ?? '',
      });
      // The device cookies issued before the change exempt nothing now; this client's
      // owner gets one that does.
      return { token, claims, user: updated, device: this.deps.devices.issue(updated, issuedAt) };
    });
  }

  /**
   * Deletes the session's own account, confirmed with its password (checked
   * and throttled as for a password change), and returns the row as it was:
   * the caller releases what it leaves outside the users table (its
   * picture). Its sessions stop working at once: the lookup behind them
   * finds nobody, and a later account with the same username has another
   * id, which the token's id does not match.
   */
  deleteAccount(
    auth: SessionAuth,
    input: { password: string; code?: string },
    deadline: Deadline,
    caller: AccountCaller,
  ): Promise<UserRow> {
    return this.audited(auth, caller, 'delete-account', deadline, async (user, session) => {
      const { store, users } = this.deps;
      const { clientIp } = caller;
      const checked = valid(normalizePassword(input.password), 'password');
      await this.verifyPassword(user, session, checked, 'password', clientIp, deadline);
      const code = input.code ?? '';
      askedForCode(user, code);
      // Its picture is checked again later, should this process stop before removing it.
      if (user.picture !== '')
        await store.addPictureChecks([user.picture], this.now() + CHECK_AFTER_MS);
      // The code last, right before the write (see changePassword).
      await this.confirmCode(user, session, code, clientIp, deadline);
      const deleted = await users.writing(user.username, () => store.delete(user.id));
      if (deleted === null) throw noSession();
      await this.forgetSessions(deleted.id, 'deleted');
      return deleted;
    });
  }

  /**
   * A password the signed-in user types again to confirm a change: a slow
   * hash judged by the session's own count, as a login that shows that
   * session (refused while the session is locked, counted as a failed or
   * successful attempt): a stolen session must not become a free password
   * oracle, and strangers guessing at the username must not keep its owner
   * from changing the password. UNAUTHENTICATED naming `field` when wrong,
   * which tells it from an ended session.
   */
  async verifyPassword(
    user: UserRow,
    session: SessionClaims,
    password: string,
    field: string,
    clientIp: string,
    deadline: Deadline,
  ): Promise<void> {
    const { limits, memo } = this.deps;
    const own = { sessionId: session.sessionId };
    limits.refuseIfThrottled(await limits.peekOwn(own));
    const credential = memo.key(user.id, user.passwordHash, password);
    // A session holder: served before strangers in the hash queue.
    const verified = await this.verifySlowly(
      user,
      password,
      credential,
      own,
      { clientIp, known: true },
      deadline,
    );
    if (!verified) throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.WRONG_PASSWORD, { field });
  }

  /**
   * With two-step login on, a change that can keep the owner out (a new password, the
   * account's deletion, two-step login turned off) needs a code too, after the password:
   * a session and a password, either of which can be stolen, are not enough. Checked and
   * counted as at a login, against the session (strangers cannot lock it) and the user's
   * count of codes. No code at all is OTP_REQUIRED, counting nothing: a client that did
   * not know it was needed spends no guess.
   */
  async confirmCode(
    user: UserRow,
    session: SessionClaims,
    code: string,
    clientIp: string,
    deadline: Deadline,
  ): Promise<void> {
    if (user.totpSecret === '') return;
    askedForCode(user, code);
    const own = { sessionId: session.sessionId };
    const kind = await this.deps.twoStep.check(user, code, own, clientIp, deadline);
    if (kind === null)
      throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.WRONG_OTP, { field: 'code' });
  }

  /** Runs a change to the session's own account and writes its audit line, whatever the result. */
  async audited<T>(
    auth: SessionAuth,
    caller: AccountCaller,
    action: AccountAction,
    deadline: Deadline,
    work: (user: UserRow, session: SessionClaims) => Promise<T>,
  ): Promise<T> {
    let user: UserRow | null = null;
    try {
      const session = await this.authenticate(auth, deadline);
      user = session.user;
      const result = await work(user, session.claims);
      this.audit.write(caller, action, user, Status.OK);
      return result;
    } catch (err) {
      this.audit.write(caller, action, user, RpcError.from(err).code);
      throw err;
    }
  }

  /** Stored with old argon2 parameters: store a new hash, unless the password changed meanwhile. */
  private rehash(user: UserRow, password: string, admission: Admission): void {
    const { passwords, store, users, log } = this.deps;
    passwords
      .hash(password, Deadline.after(REHASH_BUDGET_MS), admission)
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

function ticketExpired(): RpcError {
  return new RpcError(Status.UNAUTHENTICATED, MESSAGES.TICKET_EXPIRED);
}

/**
 * A form whose anti-CSRF token is not the session's: "reload the page" read as
 * an invitation to post it again, which fails the same way (a browser audit).
 */
function formExpired(): RpcError {
  return new RpcError(
    Status.PERMISSION_DENIED,
    'the form is out of date (this browser logged in again, or the password changed, since the page was opened) or was not sent from this site: open the page again and retry',
  );
}

/**
 * The longest a login takes from reading the user to issuing its token (its
 * deadline, RPC_TIMEOUT_MS, is 5 s by default), with room to spare.
 */
const LOGIN_SPAN_MS = 5 * 60_000;

/**
 * Whether a token may be renewed. A token from before the valid-after
 * (version 2) is renewed with the user's present one only when it was issued
 * well after sessions_valid_after last moved: one issued within a login's
 * span of it may come from a login that read the user before the move (the
 * race the valid-after closes), and lapses instead of living on.
 */
function renewable(claims: SessionClaims, user: UserRow): boolean {
  return (
    claims.validAfterMs !== null || claims.issuedAtMs - user.sessionsValidAfterMs > LOGIN_SPAN_MS
  );
}

function noSession(): RpcError {
  return new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
}

/**
 * OTP_REQUIRED when two-step login is on and no code came: asked before any slow work,
 * counting nothing (Accounts.confirmCode checks the code itself, last).
 */
function askedForCode(user: UserRow, code: string): void {
  if (user.totpSecret !== '' && code.trim() === '')
    throw new RpcError(Status.OTP_REQUIRED, MESSAGES.OTP_REQUIRED, { field: 'code' });
}
