/**
 * Brute-force and credential-stuffing protection for login and sign-up.
 *
 * - Per username: what accumulates is failures (wrong passwords, unknown
 *   usernames) and attempts still in flight. Once `userLimit` are counted,
 *   each further attempt must wait a delay that doubles with every attempt
 *   (base, 2 x base, ... up to the window), answered 429 with Retry-After and
 *   never hashed. A correct password never moves its account toward the
 *   throttle: its attempt leaves the in-flight count and resets the failures.
 *   Nothing locks for ever: failures expire `userWindowMs` after the last one.
 * - Per device: a login that shows a valid device cookie of its username
 *   (device-cookies.ts) is counted against that device instead of the
 *   username, by the same rules, except that once `userLimit` failures (and
 *   attempts in flight) are counted the device is locked for the whole
 *   window: then it stops exempting, and its logins meet the username's
 *   throttle like anyone's.
 * - Per session, the same way: once the username is throttled, a login that
 *   shows a live session of the account is counted against that session
 *   (accounts.ts), and so is every password a signed-in user types to
 *   confirm a change (password, deletion, two-step login on or off).
 * - Per user, on the codes of two-step login: every code checked (at a
 *   login, or to turn it off) is also counted against its user, by the
 *   username's rules, wherever else it is counted. Only someone who has just
 *   shown the password reaches a code, so strangers cannot move this count;
 *   and a thief with a session and the password cannot buy fresh guesses
 *   with the fresh sessions and device cookies a password change gives.
 *   A device cookie earned by a login that passed a code is counted by its
 *   own count alone (accounts.ts): its owner is not locked out by someone
 *   who knows only the password; a password change gives no such cookie.
 * - Per client address (an IPv6 client by its /64, client-key.ts): a token
 *   bucket on the attempts that would run a slow hash (sign-up, and logins
 *   not answered by the credential memo).
 * - Per user: a token bucket on picture uploads (each may cost a decode),
 *   one on listing and ending sessions (each reads the store), and one on the
 *   steps of setting up two-step login (each writes to the store).
 * The rules themselves are in rate-limits-rules.ts, once for Redis and once
 * for this process.
 *
 * Invariants:
 * - a slow-hash attempt is admitted by an atomic check-and-count of failures
 *   and attempts in flight (a Lua script, never read-then-write), so N
 *   parallel wrong passwords for one account run at most `userLimit` hashes;
 * - the cheap check (peekUser) runs before the password is looked at in any
 *   way, memo included: a throttled username learns nothing, right or wrong;
 * - Redis holds the counts, shared by every TCP server; when Redis cannot be
 *   reached, counts are kept in this process instead (per server, bounded),
 *   and carried over to Redis when it answers again.
 */
import type { Cache } from '../cache/port.ts';
import { clientKey } from '../lib/client-key.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { LocalCounts } from './rate-limits-local.ts';
import {
  BUCKET_MERGE,
  BUCKET_TAKE,
  Outcome,
  parseUser,
  RULES,
  type Rule,
  USER_ADMIT,
  USER_MERGE,
  USER_SETTLE,
  userWait,
} from './rate-limits-rules.ts';

export interface RateLimitOptions {
  userLimit: number;
  userWindowMs: number;
  userBaseDelayMs: number;
  /** Sustained slow-hash attempts per second per client address, and the burst. */
  ipPerSecond: number;
  ipBurst: number;
}

/** The scripts RateLimits runs, for the cache adapter to define up front. */
export const RATE_LIMIT_SCRIPTS = RULES.map((rule) => rule.script);

/** The state of a username as peeked: its failures, and throttled until `untilMs` (0: not throttled). */
export interface UserState {
  failures: number;
  untilMs: number;
}

/**
 * What has a count of its own instead of its username's: a device cookie, or
 * a live session of the account. Either is judged by the same rules as a
 * username, but locked for the whole window once at its limit.
 */
export type Own = { deviceId: string } | { sessionId: string };

/** Whom a slow-hash attempt is counted against: a username, its own count, or neither (null). */
export type Counted = string | Own | null;

/** An admitted slow-hash attempt, to be settled once its hash has answered. */
export interface SlowAttempt {
  /** The username's, device's or session's key; null when the attempt was counted against none (a sign-up). */
  key: string | null;
  /** True when it was counted in this process (Redis could not be reached). */
  local: boolean;
}

export type AttemptOutcome = keyof typeof Outcome;

const MAX_LOCAL_ENTRIES = 100_000;
/** How long an attempt stays counted in flight when its caller gives no deadline. */
const DEFAULT_HOLD_MS = 60_000;
/**
 * Added to the caller's time left: a hash admitted just before its deadline
 * still runs after it, and a caller's short deadline must not let its
 * attempt leave the count before its hash has ended.
 */
const HOLD_MARGIN_MS = 10_000;

const UPLOAD_PREFIX = 'rl:pic:';
const SESSIONS_PREFIX = 'rl:ses:';
const TOTP_SETUP_PREFIX = 'rl:totp:';
/**
 * Setting up two-step login: a person needs a start and a confirmation or
 * two; a few mistyped codes fit the burst, then one step a minute.
 */
const TOTP_SETUP_BURST = 10;
const TOTP_SETUP_PER_MINUTE = 1;

/**
 * What each refusal says. Not how long to wait: that is the answer's
 * Retry-After, which the pages put into words (flash.ts); a fixed "a moment"
 * read wrong beside a wait that doubles to minutes.
 */
const REFUSALS = {
  user: 'too many failed logins for this account; each further failed one makes the wait longer',
  // The second step's codes: a count of their own, and words about codes, not passwords.
  code: 'too many wrong codes for this account; each further wrong code makes the wait longer',
  ip: 'too many attempts from this address',
  upload: 'too many picture uploads',
  sessions: 'too many requests about sessions',
  totpSetup: 'too many tries at setting up two-step login',
};

export class RateLimits {
  readonly counts = { user: 0, code: 0, ip: 0, upload: 0, sessions: 0, totpSetup: 0 };
  private readonly local: LocalCounts;
  private readonly peeks = new SingleFlight<string | undefined>();

  constructor(
    private readonly cache: Cache | null,
    private readonly options: RateLimitOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    maxLocalEntries = MAX_LOCAL_ENTRIES,
  ) {
    this.local = new LocalCounts(maxLocalEntries, now);
    cache?.onRecover(() => {
      this.carryOver().catch((err) =>
        log.warn({ err }, 'rate limits: carrying counts over to the cache failed'),
      );
    });
  }

  /**
   * The username's state, read without counting anything (one GET, pipelined
   * with the user lookup). Concurrent peeks of one username share that GET;
   * a write to its count drops the shared read, so a peek made after a write
   * never gets a value read before it.
   */
  peekUser(username: string): Promise<UserState> {
    return this.peek(userKey(username));
  }

  /** A device's or session's own state, read the same way: locked until `untilMs` (0: it exempts). */
  peekOwn(own: Own): Promise<UserState> {
    return this.peek(ownKey(own));
  }

  private async peek(key: string): Promise<UserState> {
    const value = await this.readCount(key);
    const { userLimit, userWindowMs } = this.options;
    const now = this.now();
    const count = parseUser(value, now, userWindowMs);
    const wait = userWait(count, now, {
      limit: userLimit,
      baseMs: this.baseDelayMs(key),
      windowMs: userWindowMs,
    });
    return { failures: count.failures, untilMs: wait > 0 ? now + wait : 0 };
  }

  /** A device or session, once at its limit, is locked for the whole window: no doubling from the base. */
  private baseDelayMs(key: string): number {
    const own = key.startsWith(DEVICE_PREFIX) || key.startsWith(SESSION_COUNT_PREFIX);
    return own ? this.options.userWindowMs : this.options.userBaseDelayMs;
  }

  private readCount(key: string): Promise<string | undefined> {
    const cache = this.cache;
    if (cache === null) return Promise.resolve(this.local.get(key));
    return this.peeks.run(key, () =>
      cache.get(key).then(
        (value) => value?.toString(),
        () => this.local.get(key),
      ),
    );
  }

  /** Refuses a throttled username (call with the peeked state). */
  refuseIfThrottled(state: UserState): void {
    if (state.untilMs > 0) this.refuse('user', state.untilMs - this.now());
  }

  /**
   * Admits one slow-hash attempt for this address and username, device or
   * session (null: counted against none, as for a sign-up), or throws 429. The attempt stays
   * counted in flight until settle(), or for at most the caller's time left
   * (`holdMs`) and a margin.
   */
  async admitSlowAttempt(
    counted: Counted,
    clientIp: string,
    holdMs = DEFAULT_HOLD_MS,
  ): Promise<SlowAttempt> {
    const { userLimit, userWindowMs } = this.options;
    await this.admitAddress(clientIp);
    if (counted === null) return { key: null, local: false };
    const key = typeof counted === 'string' ? userKey(counted) : ownKey(counted);
    this.peeks.forget(key);
    const [[ok, wait], local] = await this.run(USER_ADMIT, key, [
      userLimit,
      this.baseDelayMs(key),
      userWindowMs,
      Math.ceil(Math.max(0, holdMs) + HOLD_MARGIN_MS),
    ]);
    if (ok === 0) this.refuse('user', wait ?? 1000);
    return { key, local };
  }

  /**
   * Admits one code of two-step login against its user's own count of codes
   * (see the top of this file), or throws 429; settle it as a slow attempt.
   * The address was charged with the attempt the code is part of.
   */
  async admitCode(userId: string, holdMs = DEFAULT_HOLD_MS): Promise<SlowAttempt> {
    const { userLimit, userWindowMs, userBaseDelayMs } = this.options;
    const key = `${CODE_PREFIX}${userId}`;
    this.peeks.forget(key);
    const [[ok, wait], local] = await this.run(USER_ADMIT, key, [
      userLimit,
      userBaseDelayMs,
      userWindowMs,
      Math.ceil(Math.max(0, holdMs) + HOLD_MARGIN_MS),
    ]);
    if (ok === 0) this.refuse('code', wait ?? 1000);
    return { key, local };
  }

  /**
   * One slow-hash attempt from this address. An empty address is one more
   * address, shared by every caller that gives none: leaving it out must not
   * be a way around the limit. Every address of an IPv6 /64 is one address:
   * its holder picks the rest of the address freely.
   */
  private async admitAddress(clientIp: string): Promise<void> {
    const { ipPerSecond, ipBurst } = this.options;
    const [[ok, wait]] = await this.run(BUCKET_TAKE, `rl:ip:${clientKey(clientIp)}`, [
      ipPerSecond / 1000,
      ipBurst,
    ]);
    if (ok === 0) this.refuse('ip', wait ?? 1000);
  }

  /** One picture upload by this user (a token bucket, like the address limit), or throws 429. */
  async admitUpload(userId: string, perMinute: number, burst: number): Promise<void> {
    const [[ok, wait]] = await this.run(BUCKET_TAKE, `${UPLOAD_PREFIX}${userId}`, [
      perMinute / 60_000,
      burst,
    ]);
    if (ok === 0) this.refuse('upload', wait ?? 1000);
  }

  /**
   * One listing or ending of sessions from this session of this user (a token bucket),
   * or throws 429. By session, not by user: a stolen session spending the user's budget
   * kept its owner from ending it (an attack audit: 14 of 15 ends refused).
   */
  async admitSessionCall(
    userId: string,
    sessionId: string,
    perMinute: number,
    burst: number,
  ): Promise<void> {
    const key = `${SESSIONS_PREFIX}${userId}:${sessionId}`;
    const [[ok, wait]] = await this.run(BUCKET_TAKE, key, [perMinute / 60_000, burst]);
    if (ok === 0) this.refuse('sessions', wait ?? 1000);
  }

  /**
   * One start or confirmation of two-step login from this session of this user (a
   * token bucket), or throws 429. By session, as the set-up itself is: a stolen
   * session spending the user's budget kept its owner from turning two-step on.
   */
  async admitTotpSetup(userId: string, sessionId: string): Promise<void> {
    const key = `${TOTP_SETUP_PREFIX}${userId}:${sessionId}`;
    const [[ok, wait]] = await this.run(BUCKET_TAKE, key, [
      TOTP_SETUP_PER_MINUTE / 60_000,
      TOTP_SETUP_BURST,
    ]);
    if (ok === 0) this.refuse('totpSetup', wait ?? 1000);
  }

  /**
   * Ends an admitted attempt: it leaves the in-flight count where it was
   * counted; a failure is counted, a success resets the failures, an
   * abandoned attempt (no verdict) only leaves.
   */
  async settle(attempt: SlowAttempt, outcome: AttemptOutcome): Promise<void> {
    if (attempt.key === null) return;
    if (!attempt.local) return this.settleKey(attempt.key, outcome, 1, 0);
    // The verdict goes where counts are kept now, and only then does the attempt leave
    // the count here. The other order left it counted nowhere while the verdict tried a
    // Redis still down: a parallel attempt got in beyond the limit (a CI run).
    try {
      if (outcome !== 'abandoned') await this.settleKey(attempt.key, outcome, 0);
    } finally {
      this.local.eval(USER_SETTLE, attempt.key, [this.now(), ...this.settleArgs('abandoned', 1)]);
    }
  }

  /** A correct password answered without a slow hash (memo): the failures start again from zero. */
  async recordSuccess(username: string): Promise<void> {
    await this.settleKey(userKey(username), 'success', 0);
  }

  /** The same for a device's or session's own failures. */
  async recordOwnSuccess(own: Own): Promise<void> {
    await this.settleKey(ownKey(own), 'success', 0);
  }

  /**
   * `localRelease`: what to release when the rule runs here because Redis is down, for
   * an attempt admitted in Redis: nothing, as it was never counted here (releasing took
   * the place of another attempt counted here, a review); Redis's hold on it expires.
   */
  private async settleKey(
    key: string,
    outcome: AttemptOutcome,
    release: 0 | 1,
    localRelease: 0 | 1 = release,
  ): Promise<void> {
    this.peeks.forget(key);
    const args = this.settleArgs(outcome, release);
    const localArgs = localRelease === release ? args : this.settleArgs(outcome, localRelease);
    await this.run(USER_SETTLE, key, args, localArgs);
  }

  private settleArgs(outcome: AttemptOutcome, release: 0 | 1): number[] {
    const { userWindowMs, userLimit } = this.options;
    return [Outcome[outcome], release, userWindowMs, userLimit];
  }

  private refuse(limit: keyof RateLimits['counts'], waitMs: number): never {
    this.counts[limit]++;
    throw new RpcError(Status.RESOURCE_EXHAUSTED, REFUSALS[limit], {
      retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }

  /**
   * The rule on Redis, or in this process (with `localArgs`) when Redis cannot be
   * reached. Returns its reply and whether it ran here.
   */
  private async run(
    rule: Rule,
    key: string,
    args: number[],
    localArgs = args,
  ): Promise<[number[], boolean]> {
    const now = this.now();
    if (this.cache !== null) {
      try {
        return [await this.cache.eval(rule.script, key, [now, ...args]), false];
      } catch (err) {
        this.log.debug(
          { err: (err as Error).message },
          'rate limits: cache unreachable, counting in this process',
        );
      }
    }
    return [this.local.eval(rule, key, [now, ...localArgs]), true];
  }

  /**
   * Redis answers again: the counts kept here meanwhile join those in Redis
   * (failures add up, a bucket keeps the fewer tokens). Attempts still in
   * flight here stay here and are settled here.
   */
  private async carryOver(): Promise<void> {
    const cache = this.cache;
    if (cache === null) return;
    const { userWindowMs, userLimit, ipPerSecond, ipBurst } = this.options;
    const entries = [...this.local.live()];
    const carryOne = async ([key, value]: [string, string]) => {
      const now = this.now();
      if (
        key.startsWith(UPLOAD_PREFIX) ||
        key.startsWith(SESSIONS_PREFIX) ||
        key.startsWith(TOTP_SETUP_PREFIX)
      ) {
        // Per-user buckets are not carried over: at worst a user gets a fresh burst.
        this.local.delete(key);
        return;
      }
      if (key.startsWith('rl:ip:')) {
        const [tokens = ipBurst, last = now] = value.split(':').map(Number);
        await cache.eval(BUCKET_MERGE.script, key, [
          now,
          ipPerSecond / 1000,
          ipBurst,
          tokens,
          last,
        ]);
        this.local.delete(key);
        return;
      }
      const count = parseUser(value, now, userWindowMs);
      if (count.failures > 0)
        await cache.eval(USER_MERGE.script, key, [
          now,
          count.failures,
          count.last,
          userWindowMs,
          userLimit,
        ]);
      this.peeks.forget(key);
      // What stays here is only the attempts in flight, settled here later.
      this.local.eval(USER_SETTLE, key, [now, Outcome.success, 0, userWindowMs, userLimit]);
    };
    // A few hundred at a time: one pipeline each, without flooding Redis as it comes back.
    for (let i = 0; i < entries.length; i += 500)
      await Promise.all(entries.slice(i, i + 500).map(carryOne));
    const carried = entries.length;
    if (carried > 0) this.log.info({ carried }, 'rate limits: counts carried over to the cache');
  }
}

function userKey(username: string): string {
  return `rl:u:${username.toLowerCase()}`;
}

const DEVICE_PREFIX = 'rl:d:';
const CODE_PREFIX = 'rl:c:';
const SESSION_COUNT_PREFIX = 'rl:sid:';

function ownKey(own: Own): string {
  return 'deviceId' in own
    ? `${DEVICE_PREFIX}${own.deviceId}`
    : `${SESSION_COUNT_PREFIX}${own.sessionId}`;
}
