/**
 * Brute-force and credential-stuffing protection for login and sign-up.
 *
 * - Per username: attempts that would run a slow hash are counted in a
 *   window; once `userLimit` are counted, each further attempt must wait a
 *   delay that doubles with every attempt (base, 2 x base, ... up to the
 *   window), answered 429 with Retry-After and never hashed. Nothing locks
 *   for ever: the count expires `userWindowMs` after the last attempt, and a
 *   successful login resets it.
 * - Per client address: a token bucket on the attempts that would run a slow
 *   hash (sign-up, and logins not answered by the credential memo).
 * - Per user: a token bucket on picture uploads (each may cost a decode).
 *
 * Invariants:
 * - a slow-hash attempt is admitted by an atomic check-and-count (a Lua
 *   script, never read-then-write), so N parallel wrong passwords for one
 *   account run at most `userLimit` hashes;
 * - the cheap check (peekUser) runs before the password is looked at in any
 *   way, memo included: a throttled username learns nothing, right or wrong;
 * - Redis holds the counts, shared by every TCP server; when Redis cannot be
 *   reached, counts are kept in this process instead (per server, bounded).
 */
import type { Cache, CacheScript } from '../cache/port.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

export interface RateLimitOptions {
  userLimit: number;
  userWindowMs: number;
  userBaseDelayMs: number;
  /** Sustained slow-hash attempts per second per client address, and the burst. */
  ipPerSecond: number;
  ipBurst: number;
}

/** Counts attempts; refuses with [0, wait ms] while throttled, else records one with [1, count]. */
const USER_SCRIPT: CacheScript = {
  name: 'usermgrAttempt',
  lua: `
local v = redis.call('GET', KEYS[1])
local n, last = 0, 0
if v then
  local sep = string.find(v, ':', 1, true)
  n = tonumber(string.sub(v, 1, sep - 1))
  last = tonumber(string.sub(v, sep + 1))
end
local now, limit, base, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if n >= limit then
  local wait = last + math.min(base * 2 ^ (n - limit), window) - now
  if wait > 0 then return {0, math.ceil(wait)} end
end
n = n + 1
redis.call('SET', KEYS[1], n .. ':' .. now, 'PX', window)
return {1, n}
`,
};

/** Takes one token; refuses with [0, wait ms] when the bucket is empty. */
const IP_SCRIPT: CacheScript = {
  name: 'usermgrBucket',
  lua: `
local v = redis.call('GET', KEYS[1])
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, last = burst, now
if v then
  local sep = string.find(v, ':', 1, true)
  tokens = tonumber(string.sub(v, 1, sep - 1))
  last = tonumber(string.sub(v, sep + 1))
end
tokens = math.min(burst, tokens + (now - last) * rate)
if tokens < 1 then return {0, math.ceil((1 - tokens) / rate)} end
redis.call('SET', KEYS[1], (tokens - 1) .. ':' .. now, 'PX', math.ceil(burst / rate) + 1000)
return {1, 0}
`,
};

/** The scripts RateLimits runs, for the cache adapter to define up front. */
export const RATE_LIMIT_SCRIPTS: readonly CacheScript[] = [USER_SCRIPT, IP_SCRIPT];

/** The attempt count of a username as peeked: throttled until `untilMs` (0: not throttled). */
export interface UserState {
  count: number;
  untilMs: number;
}

const MAX_LOCAL_ENTRIES = 100_000;

const REFUSALS = {
  user: 'too many attempts for this account: wait a moment and try again',
  ip: 'too many attempts from this address: wait a moment and try again',
  upload: 'too many picture uploads: wait a few minutes and try again',
};

export class RateLimits {
  readonly counts = { user: 0, ip: 0, upload: 0 };
  private readonly local = new Map<string, string>();
  private readonly peeks = new SingleFlight<string | undefined>();

  constructor(
    private readonly cache: Cache | null,
    private readonly options: RateLimitOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The username's state, read without counting anything (one GET, pipelined
   * with the user lookup). Concurrent peeks of one username share that GET;
   * a write to its count (an attempt, a clear) drops the shared read, so a
   * peek made after a write never gets a value read before it.
   */
  async peekUser(username: string): Promise<UserState> {
    const value = await this.readCount(userKey(username));
    if (value === undefined) return { count: 0, untilMs: 0 };
    const [n, last] = value.split(':').map(Number) as [number, number];
    const { userLimit, userBaseDelayMs, userWindowMs } = this.options;
    const untilMs =
      n >= userLimit ? last + Math.min(userBaseDelayMs * 2 ** (n - userLimit), userWindowMs) : 0;
    return { count: n, untilMs: untilMs > this.now() ? untilMs : 0 };
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

  /** Admits one slow-hash attempt for this username (skipped for the owner) and address, or throws 429. */
  async admitSlowAttempt(username: string | null, clientIp: string): Promise<void> {
    const { ipPerSecond, ipBurst, userLimit, userBaseDelayMs, userWindowMs } = this.options;
    if (clientIp !== '') {
      const [ok, wait] = await this.run(IP_SCRIPT, `rl:ip:${clientIp}`, [
        ipPerSecond / 1000,
        ipBurst,
      ]);
      if (ok === 0) this.refuse('ip', wait ?? 1000);
    }
    if (username !== null) {
      const key = userKey(username);
      this.peeks.forget(key);
      const [ok, wait] = await this.run(USER_SCRIPT, key, [
        userLimit,
        userBaseDelayMs,
        userWindowMs,
      ]);
      if (ok === 0) this.refuse('user', wait ?? 1000);
    }
  }

  /** One picture upload by this user (a token bucket, like the address limit), or throws 429. */
  async admitUpload(userId: string, perMinute: number, burst: number): Promise<void> {
    const [ok, wait] = await this.run(IP_SCRIPT, `rl:pic:${userId}`, [perMinute / 60_000, burst]);
    if (ok === 0) this.refuse('upload', wait ?? 1000);
  }

  /** A successful login: the username starts again from zero. */
  async clearUser(username: string): Promise<void> {
    const key = userKey(username);
    this.local.delete(key);
    this.peeks.forget(key);
    await this.cache?.del([key]).catch(() => {});
  }

  private refuse(limit: keyof RateLimits['counts'], waitMs: number): never {
    this.counts[limit]++;
    throw new RpcError(Status.RESOURCE_EXHAUSTED, REFUSALS[limit], {
      retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }

  /** The script on Redis, or the same logic in this process when Redis cannot be reached. */
  private async run(script: CacheScript, key: string, args: number[]): Promise<number[]> {
    const now = this.now();
    if (this.cache !== null) {
      try {
        return await this.cache.eval(script, key, [now, ...args]);
      } catch (err) {
        this.log.debug(
          { err: (err as Error).message },
          'rate limits: cache unreachable, counting in this process',
        );
      }
    }
    if (this.local.size > MAX_LOCAL_ENTRIES) this.local.clear();
    return script === USER_SCRIPT
      ? this.localAttempt(key, now, args)
      : this.localBucket(key, now, args);
  }

  private localAttempt(key: string, now: number, [limit, base, window]: number[]): number[] {
    const [n, last] = (this.local.get(key) ?? '0:0').split(':').map(Number) as [number, number];
    if (n >= (limit as number)) {
      const wait =
        last + Math.min((base as number) * 2 ** (n - (limit as number)), window as number) - now;
      if (wait > 0 && now - last < (window as number)) return [0, Math.ceil(wait)];
    }
    const fresh = now - last >= (window as number) ? 0 : n;
    this.local.set(key, `${fresh + 1}:${now}`);
    return [1, fresh + 1];
  }

  private localBucket(key: string, now: number, [rate, burst]: number[]): number[] {
    const [stored, last] = (this.local.get(key) ?? `${burst}:${now}`).split(':').map(Number) as [
      number,
      number,
    ];
    const tokens = Math.min(burst as number, stored + (now - last) * (rate as number));
    if (tokens < 1) return [0, Math.ceil((1 - tokens) / (rate as number))];
    this.local.set(key, `${tokens - 1}:${now}`);
    return [1, 0];
  }
}

function userKey(username: string): string {
  return `rl:u:${username.toLowerCase()}`;
}
