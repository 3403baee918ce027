/**
 * The throttle rules, each written once for Redis (a Lua script, run
 * atomically on one key) and once for this process (the same steps in
 * TypeScript, used by the local store and by the peek), side by side. One
 * table of cases (test/rate-limits.test.ts) runs against both.
 *
 * A username's value is `failures:last:inFlight:inFlightUntil`:
 * - `failures`: wrong passwords (and unknown usernames) within the window;
 *   they expire `window` ms after `last`, and a success resets them;
 * - `last`: when the last attempt was admitted or failed (ms);
 * - `inFlight`: admitted attempts whose slow hash has not answered yet. They
 *   count like failures until they end, so that N parallel wrong passwords
 *   run at most `limit` slow hashes; a success gives its place back and
 *   counts nothing. They lapse at `inFlightUntil` (the latest deadline of
 *   those attempts), so a server that dies mid-hash throttles no one for long.
 * With n = failures + inFlight >= limit, the next attempt waits until
 * last + min(base × 2^(n − limit), window).
 * A device's value (a login with a device cookie) is the same, run by the
 * same rules with base = window: at its limit it is locked for the window.
 *
 * An address's value is `tokens:last`, a token bucket refilled at `rate`
 * per ms up to `burst`.
 *
 * Each TCP server passes its own clock. One whose clock runs behind a key's
 * `last` counts as if it were at `last` (the time it reads with is
 * max(now, last)): it neither waits out the gap on top of a delay, nor
 * moves `last` back, which handed the server ahead the gap as time served
 * (a final attack pass, two servers 30 s apart).
 */
import type { CacheScript } from '../cache/port.ts';

export interface UserCount {
  failures: number;
  last: number;
  inFlight: number;
  inFlightUntil: number;
}

export interface UserRuleOptions {
  limit: number;
  baseMs: number;
  windowMs: number;
}

/** What a rule does to a key in the local store: its reply, and the value to keep (null: delete). */
interface LocalStep {
  reply: number[];
  write?: { value: string; ttlMs: number; throttling: boolean } | null;
}

/** One rule: the Lua script for Redis and the same steps for this process; ARGV[1] is now (ms). */
export interface Rule {
  script: CacheScript;
  local(value: string | undefined, args: readonly number[]): LocalStep;
}

const USER_PARSE = `
local function user(v, now, window)
  local p = {}
  if v then for x in string.gmatch(v, '[^:]+') do p[#p + 1] = tonumber(x) end end
  local f, last, inflight, untl = p[1] or 0, p[2] or 0, p[3] or 0, p[4] or 0
  local t = math.max(now, last)
  if t - last >= window then f = 0 end
  if t >= untl then inflight, untl = 0, 0 end
  return f, last, inflight, untl, t
end
local function save(f, last, inflight, untl, window)
  if f == 0 and inflight == 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%d:%d:%d:%d', f, last, inflight, untl), 'PX', window)
  end
end
local function wait(n, last, now, limit, base, window)
  if n < limit then return 0 end
  return last + math.min(base * 2 ^ (n - limit), window) - now
end
`;

/** The count as stored, with expired failures and lapsed in-flight attempts dropped. */
export function parseUser(value: string | undefined, now: number, windowMs: number): UserCount {
  const [f = 0, last = 0, inFlight = 0, until = 0] = (value ?? '').split(':').map(Number);
  const t = Math.max(now, last); // see the top of this file
  const live = t < until;
  return {
    failures: t - last >= windowMs ? 0 : f,
    last,
    inFlight: live ? inFlight : 0,
    inFlightUntil: live ? until : 0,
  };
}

/** Ms to wait before another attempt may be admitted: 0 when one may be admitted now. */
export function userWait(c: UserCount, now: number, o: UserRuleOptions): number {
  const n = c.failures + c.inFlight;
  if (n < o.limit) return 0;
  const t = Math.max(now, c.last); // see the top of this file
  return Math.max(0, c.last + Math.min(o.baseMs * 2 ** (n - o.limit), o.windowMs) - t);
}

function saveUser(c: UserCount, o: { limit: number; windowMs: number }): LocalStep['write'] {
  if (c.failures === 0 && c.inFlight === 0) return null;
  return {
    value: `${c.failures}:${c.last}:${c.inFlight}:${c.inFlightUntil}`,
    ttlMs: o.windowMs,
    throttling: c.failures + c.inFlight >= o.limit,
  };
}

/**
 * Admits one attempt: ARGV now, limit, base, window, hold (how long the
 * attempt may stay in flight). Replies [1, attempts counted] or [0, wait ms].
 */
export const USER_ADMIT: Rule = {
  script: {
    name: 'usermgrUserAdmit',
    lua: `${USER_PARSE}
local now, limit, base, window, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local f, last, inflight, untl, t = user(redis.call('GET', KEYS[1]), now, window)
local w = wait(f + inflight, last, t, limit, base, window)
if w > 0 then return {0, math.ceil(w)} end
save(f, t, inflight + 1, math.max(untl, t + hold), window)
return {1, f + inflight + 1}
`,
  },
  local(value, [now = 0, limit = 0, baseMs = 0, windowMs = 0, hold = 0]) {
    const o = { limit, baseMs, windowMs };
    const c = parseUser(value, now, windowMs);
    const w = userWait(c, now, o);
    if (w > 0) return { reply: [0, Math.ceil(w)] };
    const t = Math.max(now, c.last);
    const next = {
      failures: c.failures,
      last: t,
      inFlight: c.inFlight + 1,
      inFlightUntil: Math.max(c.inFlightUntil, t + hold),
    };
    return { reply: [1, c.failures + c.inFlight + 1], write: saveUser(next, o) };
  },
};

/** How an attempt ended: with the right password, a wrong one, or without a verdict (gave up waiting). */
export const Outcome = { failure: 0, success: 1, abandoned: 2 } as const;

/**
 * Ends an attempt: ARGV now, outcome (Outcome), release (1: the attempt is in
 * flight in this store), window, limit. A success resets the failures, a
 * failure adds one; either way the attempt leaves the in-flight count.
 * Replies [failures, in flight].
 */
export const USER_SETTLE: Rule = {
  script: {
    name: 'usermgrUserSettle',
    lua: `${USER_PARSE}
local now, outcome, release, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local f, last, inflight, untl, t = user(redis.call('GET', KEYS[1]), now, window)
if release == 1 and inflight > 0 then inflight = inflight - 1 end
if outcome == 1 then f = 0 elseif outcome == 0 then f, last = f + 1, t end
save(f, last, inflight, untl, window)
return {f, inflight}
`,
  },
  local(value, [now = 0, outcome = 0, release = 0, windowMs = 0, limit = 0]) {
    const c = parseUser(value, now, windowMs);
    if (release === 1 && c.inFlight > 0) c.inFlight--;
    if (outcome === Outcome.success) c.failures = 0;
    else if (outcome === Outcome.failure) {
      c.failures++;
      c.last = Math.max(now, c.last);
    }
    return { reply: [c.failures, c.inFlight], write: saveUser(c, { limit, windowMs }) };
  },
};

/**
 * Adds failures counted elsewhere (in process during an outage): ARGV now,
 * failures, last, window, limit. Replies [failures].
 */
export const USER_MERGE: Rule = {
  script: {
    name: 'usermgrUserMerge',
    lua: `${USER_PARSE}
local now, failures, at, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local f, last, inflight, untl, t = user(redis.call('GET', KEYS[1]), now, window)
if t - at < window then f, last = f + failures, math.max(last, at) end
save(f, last, inflight, untl, window)
return {f}
`,
  },
  local(value, [now = 0, failures = 0, at = 0, windowMs = 0, limit = 0]) {
    const c = parseUser(value, now, windowMs);
    if (Math.max(now, c.last) - at < windowMs) {
      c.failures += failures;
      c.last = Math.max(c.last, at);
    }
    return { reply: [c.failures], write: saveUser(c, { limit, windowMs }) };
  },
};

/*
 * A bucket's tokens now, and the time to store with them. Every TCP server
 * passes its own clock: one behind the bucket's last writer refills nothing
 * for the gap (it owed tokens and refused an address with a nearly full
 * bucket) and keeps the later time (moving it back gave the server ahead
 * the gap again as tokens).
 */
const BUCKET_PARSE = `
local function bucket(v, now, rate, burst)
  local tokens, last = burst, now
  if v then
    local sep = string.find(v, ':', 1, true)
    tokens, last = tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
  end
  return math.min(burst, tokens + math.max(0, now - last) * rate), math.max(now, last)
end
`;

/** The tokens in an address's bucket now, and the time to store (see BUCKET_PARSE). */
function bucketTokens(
  value: string | undefined,
  now: number,
  rate: number,
  burst: number,
): [tokens: number, at: number] {
  if (value === undefined) return [burst, now];
  const [tokens = burst, last = now] = value.split(':').map(Number);
  return [Math.min(burst, tokens + Math.max(0, now - last) * rate), Math.max(now, last)];
}

function saveBucket(tokens: number, at: number, rate: number, burst: number): LocalStep['write'] {
  return {
    value: `${tokens}:${at}`,
    ttlMs: Math.ceil(burst / rate) + 1000,
    throttling: tokens < 1,
  };
}

const BUCKET_TTL = 'math.ceil(burst / rate) + 1000';

/** Takes one token: ARGV now, rate (per ms), burst. Replies [1, 0] or [0, wait ms]. */
export const BUCKET_TAKE: Rule = {
  script: {
    name: 'usermgrBucketTake',
    lua: `${BUCKET_PARSE}
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, at = bucket(redis.call('GET', KEYS[1]), now, rate, burst)
if tokens < 1 then return {0, math.ceil((1 - tokens) / rate)} end
redis.call('SET', KEYS[1], (tokens - 1) .. ':' .. at, 'PX', ${BUCKET_TTL})
return {1, 0}
`,
  },
  local(value, [now = 0, rate = 1, burst = 1]) {
    const [tokens, at] = bucketTokens(value, now, rate, burst);
    if (tokens < 1) return { reply: [0, Math.ceil((1 - tokens) / rate)] };
    return { reply: [1, 0], write: saveBucket(tokens - 1, at, rate, burst) };
  },
};

/**
 * Keeps the emptier of two buckets (the other counted in process during an
 * outage): ARGV now, rate, burst, tokens, last. Replies [1].
 */
export const BUCKET_MERGE: Rule = {
  script: {
    name: 'usermgrBucketMerge',
    lua: `${BUCKET_PARSE}
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local here, hereAt = bucket(redis.call('GET', KEYS[1]), now, rate, burst)
local there, thereAt = bucket(ARGV[4] .. ':' .. ARGV[5], now, rate, burst)
redis.call('SET', KEYS[1], math.min(here, there) .. ':' .. math.max(hereAt, thereAt), 'PX', ${BUCKET_TTL})
return {1}
`,
  },
  local(value, [now = 0, rate = 1, burst = 1, tokens = burst, last = now]) {
    const [here, hereAt] = bucketTokens(value, now, rate, burst);
    const [there, thereAt] = bucketTokens(`${tokens}:${last}`, now, rate, burst);
    return {
      reply: [1],
      write: saveBucket(Math.min(here, there), Math.max(hereAt, thereAt), rate, burst),
    };
  },
};

export const RULES: readonly Rule[] = [
  USER_ADMIT,
  USER_SETTLE,
  USER_MERGE,
  BUCKET_TAKE,
  BUCKET_MERGE,
];
