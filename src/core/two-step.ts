/**
 * Two-step login (TOTP, RFC 6238), optional per user: setting it up, the
 * check of a code, turning it off. Sessions, passwords and audit lines are
 * the callers' (accounts.ts, totp-account.ts); this module takes a user row.
 *
 * Invariants:
 * - the secret is stored only sealed (totp-keys.ts), under a key the TCP
 *   servers hold; the pending secret of a set-up too, bound to the session
 *   that started it and to its start time: another session of the user
 *   (a stolen one) cannot read it or confirm it, and after PENDING_TTL_MS
 *   it is gone (see pendingBinding);
 * - a code is accepted once: the store keeps the last step accepted and
 *   takes a later one only by a compare-and-set (store.useTotpStep), one
 *   statement, so two servers given the same code at once accept it once;
 *   a recovery code is removed by one statement the same way;
 * - every code checked at a login or to turn it off is an attempt under the
 *   login throttle (rate-limits.ts): admitted against the same username (or
 *   device) and address as a password, and against the user's own count of
 *   codes, a wrong one counted as a failure in both, a right one resetting
 *   the failures; except from a device whose cookie was earned with a code
 *   (device-cookies.ts, `d4`), counted against itself alone: someone who
 *   knows only the password ran up the user's count and kept the owner's own
 *   device out for minutes (an attack audit). A correct password alone resets
 *   nothing for such an account (accounts.ts), so that knowing the password
 *   does not buy fresh guesses at the code;
 * - the cached user row carries the sealed secret, so a login of a user
 *   without it costs nothing more; every change of it invalidates that entry.
 */
import type { Deadline } from '../lib/deadline.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { base32Encode } from './base32.ts';
import type { CachedUsers } from './cached-users.ts';
import type { LoginTickets, TicketClaims } from './login-tickets.ts';
import type { Counted, RateLimits, SlowAttempt } from './rate-limits.ts';
import type { SpentTickets } from './spent-tickets.ts';
import { matchStep, otpauthUrl, TOTP, TOTP_CODE } from './totp.ts';
import type { SecretBox } from './totp-keys.ts';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './totp-recovery.ts';

/** A code not counted against its user (see check()): settling it changes nothing. */
const NOT_COUNTED: SlowAttempt = { key: null, local: false };

/** How long a secret being set up can be read and confirmed. */
export const PENDING_TTL_MS = 15 * 60_000;
/** How far another TCP server's clock may be ahead of this one's for a pending secret. */
const MAX_CLOCK_SKEW_MS = 60_000;
/** The start time sealed after a pending secret: milliseconds, 8 bytes big-endian. */
const STARTED_BYTES = 8;

export interface TwoStepDeps {
  store: UserStore;
  users: CachedUsers;
  limits: RateLimits;
  box: SecretBox;
  tickets: LoginTickets;
  /** Tickets already used: each starts one session. */
  spent: SpentTickets;
  /** The name authenticator apps show beside the username. */
  issuer: string;
  now?: () => number;
}

/** A secret being set up, as the user's authenticator app takes it. */
export interface Enrolment {
  /** Base32, as people type it into an app. */
  secret: string;
  otpauthUrl: string;
}

/** Which kind of code passed a check. */
export type CodeKind = 'totp' | 'recovery';

/** What the second step of a login on the pages continues from: see login-tickets.ts. */
export interface SecondStepTicket {
  ticket: string;
  csrfToken: string;
  expiresAtMs: number;
}

/**
 * OTP_REQUIRED: the password was right and a code is needed. Carries the
 * pages' ticket for the second step when the login asked for one.
 */
export class OtpRequired extends RpcError {
  constructor(
    message: string,
    readonly ticket: SecondStepTicket | null = null,
  ) {
    super(Status.OTP_REQUIRED, message, { field: 'otp' });
  }
}

export class TwoStep {
  private readonly now: () => number;

  constructor(private readonly deps: TwoStepDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Starts setting up, or starts again: a secret pending until confirmed in
   * the same session within PENDING_TTL_MS. Starting again in a session that
   * has a secret pending keeps that secret, and its time: a new one, shown
   * without a word, made the code of the secret just added to the app
   * "wrong" (a second tab, or back and start again). Its time is not started
   * over, so that a fresh secret is at most PENDING_TTL_MS away (a review).
   */
  async start(user: UserRow, sessionId: string): Promise<Enrolment> {
    const { store, limits, box } = this.deps;
    if (user.totpSecret !== '') throw alreadyOn();
    await limits.admitTotpSetup(user.id, sessionId);
    const pending = this.openPending(await store.totpPending(user.id), user.id, sessionId);
    if (pending !== null) return this.enrolment(user, pending);
    const secret = crypto.getRandomValues(new Uint8Array(TOTP.secretBytes));
    const sealed = new Uint8Array(secret.length + STARTED_BYTES);
    sealed.set(secret);
    new DataView(sealed.buffer).setBigUint64(secret.length, BigInt(Math.floor(this.now())));
    const binding = pendingBinding(user.id, sessionId);
    if (!(await store.setTotpPending(user.id, box.seal(sealed, binding)))) throw alreadyOn();
    return this.enrolment(user, secret);
  }

  /** The state of the user's two-step login, and the secret this session is setting up if any. */
  async state(
    user: UserRow,
    sessionId: string,
  ): Promise<{ enabled: boolean; recoveryCodesLeft: number; pending: Enrolment | null }> {
    const { store } = this.deps;
    if (user.totpSecret !== '') {
      const recoveryCodesLeft = await store.recoveryCodesLeft(user.id);
      return { enabled: true, recoveryCodesLeft, pending: null };
    }
    const secret = this.openPending(await store.totpPending(user.id), user.id, sessionId);
    const pending = secret === null ? null : this.enrolment(user, secret);
    return { enabled: false, recoveryCodesLeft: 0, pending };
  }

  /**
   * A first code from the pending secret turns two-step login on. Answers
   * the ten recovery codes, which exist nowhere else from now on (only their
   * hashes are kept).
   */
  async confirm(user: UserRow, sessionId: string, code: string): Promise<string[]> {
    const { store, users, limits } = this.deps;
    if (user.totpSecret !== '') throw alreadyOn();
    await limits.admitTotpSetup(user.id, sessionId);
    const pending = await store.totpPending(user.id);
    const secret = this.openPending(pending, user.id, sessionId);
    if (secret === null) throw notStarted();
    const step = matchStep(secret, compactCode(code), this.now(), -1);
    if (step === null) {
      throw invalidArgument(
        'the code is wrong: enter the 6 digits your authenticator app shows now for this account',
        'code',
      );
    }
    const codes = newRecoveryCodes();
    const hashes = codes.map((c) => hashRecoveryCode(user.id, c));
    const sealed = this.deps.box.seal(secret, user.id);
    const enabled = await users.writing(user.username, () =>
      store.enableTotp(user.id, pending, sealed, step, hashes, this.now()),
    );
    // Set up again meanwhile (another pending secret), or turned on elsewhere.
    if (enabled === null) throw notStarted();
    return codes;
  }

  /** Turns it off; the caller has checked the password and a code. */
  async disable(user: UserRow): Promise<void> {
    const { store, users } = this.deps;
    const disabled = await users.writing(user.username, () =>
      store.disableTotp(user.id, this.now()),
    );
    if (disabled === null) throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
  }

  /**
   * Checks a code of a user with two-step login, as one attempt under the
   * login throttle (see the top of this file; not against the user's count of
   * codes when `byUser` is false: a device that passed a code before, whose
   * own count holds its guesses): the code of the current step
   * or one either side, later than the last one accepted, or an unused
   * recovery code. Null when it is neither (or was used already).
   */
  async check(
    user: UserRow,
    code: string,
    counted: Counted,
    clientIp: string,
    deadline: Deadline,
    byUser = true,
  ): Promise<CodeKind | null> {
    const { limits } = this.deps;
    const codes = byUser ? await limits.admitCode(user.id, deadline.remainingMs()) : NOT_COUNTED;
    let attempt: SlowAttempt;
    try {
      attempt = await limits.admitSlowAttempt(counted, clientIp, deadline.remainingMs());
    } catch (err) {
      await limits.settle(codes, 'abandoned');
      throw err;
    }
    let kind: CodeKind | null;
    try {
      kind = await this.use(user, code);
    } catch (err) {
      // No verdict: nothing was learnt.
      await Promise.all([limits.settle(codes, 'abandoned'), limits.settle(attempt, 'abandoned')]);
      throw err;
    }
    const outcome = kind === null ? 'failure' : 'success';
    await Promise.all([limits.settle(codes, outcome), limits.settle(attempt, outcome)]);
    return kind;
  }

  /** A ticket for the second step of a login on the pages, carrying "keep me logged in". */
  ticket(user: UserRow, remember: boolean): SecondStepTicket {
    return this.deps.tickets.issue(user, this.now(), remember);
  }

  /** The claims of a ticket this system issued, unexpired; null for anything else. */
  openTicket(ticket: string): TicketClaims | null {
    return this.deps.tickets.verify(ticket, this.now());
  }

  /** Takes the ticket (it starts one session); false when it was taken before. */
  spendTicket(claims: TicketClaims): Promise<boolean> {
    return this.deps.spent.spend(claims.ticketId, claims.expiresAtMs, this.now());
  }

  /** Gives a taken ticket back: its second step failed (a wrong code), and may be tried again. */
  returnTicket(claims: TicketClaims): Promise<void> {
    return this.deps.spent.unspend(claims.ticketId);
  }

  /** Whether the anti-CSRF token of a second step's form is the one of its ticket. */
  ticketFormMatches(claims: TicketClaims, csrfToken: string): boolean {
    return this.deps.tickets.csrfMatches(claims.ticketId, csrfToken);
  }

  private async use(user: UserRow, code: string): Promise<CodeKind | null> {
    const { store, users, box } = this.deps;
    const compact = compactCode(code);
    if (TOTP_CODE.test(compact)) {
      const opened = box.open(user.totpSecret, user.id);
      if (opened === null) {
        // Sealed under a key no longer configured (a restore without DATA_DIR's secret, a
        // SESSION_SECRET rotated away without TOTP_KEYS): only a recovery code helps now.
        // Logged as a warning with the way out (dispatch.ts logs UNAVAILABLE's cause).
        throw new RpcError(Status.UNAVAILABLE, MESSAGES.TOTP_KEY_MISSING, {
          cause:
            `the two-step login secret of user ${user.id} opens under no configured key: ` +
            'bring back the SESSION_SECRET (or DATA_DIR/session-secret) or TOTP_KEYS it was ' +
            'sealed under, listed after the new one',
        });
      }
      const step = matchStep(opened.secret, compact, this.now(), -1);
      if (step === null) return null;
      // The write that uses the step also moves the secret to the newest key.
      const resealed = opened.stale ? box.seal(opened.secret, user.id) : user.totpSecret;
      const used = await store.useTotpStep(user.id, user.totpSecret, step, resealed);
      if (used && resealed !== user.totpSecret) await users.invalidate(user.username);
      return used ? 'totp' : null;
    }
    const recovery = normalizeRecoveryCode(code);
    if (recovery === null) return null;
    const used = await store.useRecoveryCode(user.id, hashRecoveryCode(user.id, recovery));
    return used ? 'recovery' : null;
  }

  /** The pending secret when this session started it less than PENDING_TTL_MS ago; else null. */
  private openPending(sealed: string, userId: string, sessionId: string): Uint8Array | null {
    const opened = this.deps.box.open(sealed, pendingBinding(userId, sessionId));
    if (opened === null || opened.secret.length !== TOTP.secretBytes + STARTED_BYTES) return null;
    const view = new DataView(opened.secret.buffer, opened.secret.byteOffset);
    const startedMs = Number(view.getBigUint64(TOTP.secretBytes));
    const age = this.now() - startedMs;
    // Started on another TCP server whose clock is ahead: a little is no harm.
    if (age < -MAX_CLOCK_SKEW_MS || age >= PENDING_TTL_MS) return null;
    return opened.secret.subarray(0, TOTP.secretBytes);
  }

  private enrolment(user: UserRow, secret: Uint8Array): Enrolment {
    const text = base32Encode(secret);
    return { secret: text, otpauthUrl: otpauthUrl(this.deps.issuer, user.username, text) };
  }
}

/**
 * What a pending secret is sealed to (the AEAD's additional data): its user
 * and the session that started it. Why the session: a stolen session could
 * otherwise read a secret the owner left pending, and hold the codes of the
 * app the owner then confirms it with. An enabled secret is bound to the user
 * alone (`box.seal(secret, user.id)`), which no binding here can equal: a
 * session id has no '/'.
 */
function pendingBinding(userId: string, sessionId: string): string {
  return `${userId}/pending/${sessionId}`;
}

/** A TOTP code as typed: spaces (apps show "123 456") dropped. */
function compactCode(code: string): string {
  return code.replace(/\s+/g, '');
}

function alreadyOn(): RpcError {
  return new RpcError(Status.ALREADY_EXISTS, MESSAGES.TOTP_ALREADY_ON);
}

function notStarted(): RpcError {
  return new RpcError(Status.NOT_FOUND, MESSAGES.TOTP_NOT_STARTED);
}
