/**
 * Each user's list of live sessions ("Where you're logged in"): what a login
 * saw (its address, its User-Agent, when), for the user to see and to end a
 * session by name. A record, not what makes a session valid: a token is
 * valid by its signature, the revoked list and sessions_valid_after
 * (session-tokens.ts, revocations.ts, accounts.ts), whatever the list says;
 * ending a session revokes it, and only then takes it off the list.
 *
 * Invariants:
 * - a login only puts its entry in this process's buffer, and waits for
 *   nothing: the buffer goes out in batches (every `flushAt` entries, or
 *   whatever `flushMs` gathered), to Redis and to the store side by side;
 * - to Redis, the batch's logins as one script run (Cache.evalEach; one
 *   command per key on a Redis Cluster) that for each puts the entry in the
 *   user's hash `ss:<user id>`, reads its length, raises the key's expiry at
 *   its first entry, every 16th and at every lasting session, and at twice
 *   `maxPerUser` drops it first (below). A command per login, or one per
 *   event-loop turn on the login's path, cost this process more
 *   (bench/RESULTS.md). A session ended before its batch leaves is taken out
 *   of it, so Redis never gets it back; a failure never fails a login;
 * - durably, the same entries in the store (one statement per batch), as
 *   revocations are but without a store write per login. An entry not yet
 *   saved (its batch being written included) is read from this process's
 *   buffer (and with credential affinity a user's calls come here); without
 *   Redis, the buffer is the "Redis step" (one process);
 * - a read is the union of Redis, the store and the buffer, so that losing
 *   any one of them (Redis restarted, a batch not yet written) loses no entry
 *   that another holds; entries of one session merge to the latest expiry;
 * - bounded per user: at twice `maxPerUser` entries, the batch's script
 *   drops the user's hash (one DEL: sorting a hundred entries in Lua to trim
 *   it cost Redis more than the HSETs) before it adds the new entry, and
 *   says so; the user's store list is trimmed to `maxPerUser` after the
 *   next batch. What the hash loses is in the store, but for the entries
 *   of the last batch of other servers, which their buffers hold until
 *   written. Logins Redis did not take (none, unreachable) are counted here
 *   instead (the counts themselves bounded), and past twice `maxPerUser`
 *   the store list is trimmed the same way. A user logging in a million
 *   times costs at most 2 x `maxPerUser` entries in Redis and about that in
 *   the store, never a million. A session trimmed off the list stays valid
 *   until it expires; "log out everywhere" ends it;
 * - the hash's expiry is approximate (it is raised, never lowered, only
 *   now and then): an entry Redis drops early is still in the store, and a
 *   read takes both;
 * - the buffer is bounded (`maxUnsaved`): while the store refuses batches,
 *   the oldest entries beyond it are dropped (counted and logged), never the
 *   process's memory.
 */

import type { Cache, CacheScript } from '../cache/port.ts';
import { ExpiringKeys } from '../lib/expiring-keys.ts';
import { Sampler } from '../lib/sampler.ts';
import type { Logger } from '../log.ts';
import type { ListedSession, UserStore } from '../store/port.ts';
import { MAX_LISTED_SESSIONS } from '../wire/account-rules.ts';

export interface SessionListOptions {
  /** Sessions listed per user (newest first). */
  maxPerUser: number;
  /** A batch goes to the store at most this long after its first entry, */
  flushMs: number;
  /** or as soon as it has this many entries. */
  flushAt: number;
  /** Entries kept in this process while the store cannot take them. */
  maxUnsaved: number;
}

const DEFAULTS: SessionListOptions = {
  maxPerUser: MAX_LISTED_SESSIONS,
  flushMs: 100,
  flushAt: 256,
  maxUnsaved: 20_000,
};

/** Users whose logins this process counts, without Redis (the oldest go first). */
const MAX_COUNTED_USERS = 100_000;
/** What the store keeps of a login's address and User-Agent (the columns' widths). */
const MAX_ADDRESS_CHARS = 64;
const MAX_USER_AGENT_CHARS = 256;
const DONE: Promise<void> = Promise.resolve();
/**
 * How long the list turns away the sessions of a deleted user: longer than a
 * login in flight at the deletion can still take (its deadline, a slow hash).
 */
const GONE_MS = 60_000;
/** Deleted users the list turns away at once (more deletions a minute than this: the oldest go). */
const MAX_GONE = 100_000;
/** Redis raises a user's hash's expiry at its first entry, every this many, and at every lasting session. */
const EXPIRY_EVERY = 16;
/** A user's hash is dropped once it holds this many times the bound (the store keeps the bound). */
const TRIM_PAST = 2;

/**
 * A renewal: raises the expiry of the entry ARGV[1] of the hash KEYS[1] to
 * ARGV[2] (keeping what its login saw), or adds ARGV[3] when it is not
 * there; the key then lives at least ARGV[4] ms. An entry starts
 * "<expiry>:<start>:". Answers [1] when the entry was there.
 */
const RENEW: CacheScript = {
  name: 'usermgrSessionRenew',
  lua: `local old = redis.call('HGET', KEYS[1], ARGV[1])
local found = 0
if old then
  found = 1
  local was, rest = string.match(old, '^(%d+)(:.*)$')
  if was and tonumber(was) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. rest) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {found}`,
};

/**
 * The logins of one batch (Cache.evalEach): for each hash KEYS[i], with its
 * two arguments from ARGV[2i + 1] (the session id and the entry), sets the
 * field to the entry, and sets the key's expiry to the entry's (its first
 * number, less the time ARGV[1]) when it is the first entry, raises it (GT)
 * at every EXPIRY_EVERY-th and for a lasting session (the entry's third
 * field "1"). A hash already holding TRIM_PAST x ARGV[2] entries is dropped
 * first (one DEL, no entry read: those older than a batch are in the store,
 * which keeps the newest ARGV[2]). Answers, per key, the entries dropped.
 * The expiry and the kind are read from the entry rather than sent again:
 * two arguments fewer per login cost this process less than the match
 * costs Redis.
 */
const LIST: CacheScript = {
  name: 'usermgrSessionList',
  manyKeys: true,
  lua: `local now = tonumber(ARGV[1])
local bound = ${TRIM_PAST} * tonumber(ARGV[2])
local trimmed = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local entry = ARGV[2 * i + 2]
  local length = redis.call('HLEN', key)
  trimmed[i] = 0
  if length >= bound then
    redis.call('DEL', key)
    trimmed[i] = length
    length = 0
  end
  redis.call('HSET', key, ARGV[2 * i + 1], entry)
  local expiry, lasting = string.match(entry, '^(%d+):%d+:([01]):')
  local ttl = math.max(1, tonumber(expiry) - now)
  if length == 0 then
    redis.call('PEXPIRE', key, ttl)
  elseif (length + 1) % ${EXPIRY_EVERY} == 0 or lasting == '1' then
    redis.call('PEXPIRE', key, ttl, 'GT')
  end
end
return trimmed`,
};

/** Removes the entries of the hash KEYS[1] begun at or before ARGV[1]. Answers [removed]. */
const FORGET: CacheScript = {
  name: 'usermgrSessionForget',
  lua: `local upTo = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #all, 2 do
  local c = string.match(all[i + 1], '^%d+:(%d+):')
  if not c or tonumber(c) <= upTo then
    redis.call('HDEL', KEYS[1], all[i])
    removed = removed + 1
  end
end
return {removed}`,
};

/** The scripts the cache must be given (see createRedisCache). */
export const SESSION_LIST_SCRIPTS: readonly CacheScript[] = [LIST, RENEW, FORGET];

export class SessionList {
  /** Entries not yet in the store, by session id (Map order: oldest first). */
  private readonly unsaved = new Map<string, ListedSession>();
  /** Users whose store list is trimmed after the next batch. */
  private readonly trims = new Set<string>();
  /** Logins per user listed by this process since its last trim, where Redis did not count them. */
  private readonly counts = new Map<string, number>();
  /** Users whose accounts were deleted, until the list stops turning their logins away. */
  private readonly gone = new ExpiringKeys(MAX_GONE);
  /** Logins not yet sent to Redis (the next batch's one command). */
  private toCache: ListedSession[] = [];
  /** Redis commands sent ahead of their batch, while a slow store holds it. */
  private readonly sending = new Set<Promise<void>>();
  private timer: Timer | null = null;
  private flushing: Promise<void> | null = null;
  /** The trims under way, beside the batches that follow them. */
  private trimming: Promise<void> | null = null;
  private readonly options: SessionListOptions;
  /** Entries dropped because the store could not take them in time. */
  dropped = 0;
  /**
   * Failed saves and trims, logged once per 10 s each, then with a count of
   * those left out: the store down, they retry several times a second.
   */
  private readonly failures = new Sampler(10_000, 1, (what, leftOut) =>
    this.log.warn({ failedSinceLastLine: leftOut }, `session list: ${what} failed, will retry`),
  );

  constructor(
    private readonly store: UserStore,
    private readonly cache: Cache | null,
    private readonly log: Logger,
    options: Partial<SessionListOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * Lists a session (a login), or raises a listed one's expiry (a renewal,
   * with `renewal`: its other fields are kept). A login is only buffered
   * here: Redis and the store get it with the next batch; a renewal
   * resolves once Redis has it. Never throws: a side that fails loses the
   * entry, and the others still hold it.
   */
  record(entry: ListedSession, renewal = false): Promise<void> {
    if (this.gone.size !== 0 && this.gone.has(entry.userId, this.now())) return DONE;
    const address = printable(entry.address, MAX_ADDRESS_CHARS);
    const userAgent = printable(entry.userAgent, MAX_USER_AGENT_CHARS);
    // A copy only when something had to be cut or replaced.
    const clean =
      address === entry.address && userAgent === entry.userAgent
        ? entry
        : { ...entry, address, userAgent };
    if (this.cache !== null && !renewal) {
      this.toCache.push(clean);
      // A store slower than the logins must not hold Redis back, nor let one
      // command grow without bound: a full batch's worth goes at once.
      if (this.flushing !== null && this.toCache.length >= this.options.flushAt) {
        const ahead = this.sendToCache(this.takeFresh());
        this.sending.add(ahead);
        void ahead.finally(() => this.sending.delete(ahead));
      }
    }
    this.keep(clean);
    if (this.cache === null) {
      this.countForTrim(clean.userId);
      return DONE;
    }
    return renewal ? this.renew(this.cache, clean) : DONE;
  }

  /** The user's listed sessions unexpired at `nowMs`, newest first, at most `maxPerUser`. */
  async list(userId: string, nowMs: number): Promise<ListedSession[]> {
    const { maxPerUser } = this.options;
    // The buffer before the reads: an entry that leaves it once saved was
    // saved before they began, so the store's read finds it.
    const buffered = [...this.unsaved.values()].filter((entry) => entry.userId === userId);
    const [cached, stored] = await Promise.all([
      this.fromCache(userId),
      this.store.listSessions(userId, nowMs, 2 * maxPerUser),
    ]);
    const merged = new Map<string, ListedSession>();
    for (const entry of [...cached, ...stored, ...buffered]) {
      if (entry.userId !== userId || entry.expiresAtMs <= nowMs) continue;
      const seen = merged.get(entry.sessionId);
      // The entry with an address and User-Agent (a renewal may list one without), and the latest expiry.
      const base =
        seen === undefined || (seen.userAgent === '' && entry.userAgent !== '') ? entry : seen;
      merged.set(entry.sessionId, {
        ...base,
        expiresAtMs: Math.max(entry.expiresAtMs, seen?.expiresAtMs ?? 0),
      });
    }
    return [...merged.values()]
      .sort((a, b) => b.createdAtMs - a.createdAtMs || (a.sessionId < b.sessionId ? -1 : 1))
      .slice(0, maxPerUser);
  }

  /** Takes sessions (already revoked) off the user's list, everywhere it is kept. */
  async remove(userId: string, sessionIds: readonly string[]): Promise<void> {
    const ids = new Set(sessionIds);
    for (const id of sessionIds) this.unsaved.delete(id);
    this.toCache = this.toCache.filter((entry) => !ids.has(entry.sessionId));
    // A batch being written may carry them: delete after it.
    await this.settled();
    await Promise.all([
      this.store.deleteSessions(userId, sessionIds),
      this.cache?.hashDelete(listKey(userId), sessionIds),
    ]);
  }

  /** Takes off the user's list every session begun at or before `createdUpToMs` (all ended). */
  async forget(userId: string, createdUpToMs: number): Promise<void> {
    for (const [id, entry] of this.unsaved)
      if (entry.userId === userId && entry.createdAtMs <= createdUpToMs) this.unsaved.delete(id);
    this.toCache = this.toCache.filter(
      (entry) => entry.userId !== userId || entry.createdAtMs > createdUpToMs,
    );
    this.counts.delete(userId);
    await this.settled();
    await Promise.all([
      this.store.deleteUserSessions(userId, createdUpToMs),
      this.cache?.eval(FORGET, listKey(userId), [createdUpToMs]),
    ]);
  }

  /**
   * Takes every session of a deleted user off the list, and turns away those
   * that logins in flight at the deletion list after it, for GONE_MS: such a
   * login kept the user's address and User-Agent in the store and Redis until it
   * expired, a day or 30 (an integrity audit). One on another server, or before a
   * crash, is the store's purge's to remove (purgeExpiredSessions).
   */
  forgetUser(userId: string): Promise<void> {
    const now = this.now();
    this.gone.set(userId, now + GONE_MS, now);
    return this.forget(userId, Number.MAX_SAFE_INTEGER);
  }

  /**
   * Writes what is buffered now; resolves when written (or put back after a
   * failure), and trimmed.
   */
  async flush(): Promise<void> {
    await this.nextBatch();
    await this.trimming;
    // Users found due while an earlier trim ran.
    this.trim();
    await this.trimming;
  }

  private nextBatch(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
      this.schedule();
    });
    return this.flushing;
  }

  /** The last batch, at shutdown. */
  async close(): Promise<void> {
    // The last batch's Redis command too: the cache closes after this.
    await this.settled();
    await this.flush();
    if (this.unsaved.size > 0)
      this.log.warn({ sessions: this.unsaved.size }, 'session list: entries not saved at shutdown');
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Entries waiting for the store (tests and metrics). */
  get pending(): number {
    return this.unsaved.size;
  }

  private keep(entry: ListedSession): void {
    const seen = this.unsaved.get(entry.sessionId);
    if (seen !== undefined) {
      seen.expiresAtMs = Math.max(seen.expiresAtMs, entry.expiresAtMs);
    } else {
      this.unsaved.set(entry.sessionId, entry);
      if (this.unsaved.size > this.options.maxUnsaved) {
        const oldest = this.unsaved.keys().next().value as string;
        this.unsaved.delete(oldest);
        if (this.dropped++ % 1000 === 0)
          this.log.warn(
            { dropped: this.dropped },
            'session list: the store is behind, entries dropped',
          );
      }
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.flushing !== null || (this.unsaved.size === 0 && this.trims.size === 0)) return;
    if (this.unsaved.size >= this.options.flushAt) {
      void this.nextBatch();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.nextBatch();
      }, this.options.flushMs);
      this.timer.unref();
    }
  }

  /**
   * One batch: the logins since the last one to Redis (one command) and
   * every unsaved entry to the store (one statement per flushAt), side by
   * side; then the trims due, which count the batch's entries, begin.
   */
  private async write(): Promise<void> {
    // Copies: a renewal may raise a buffered entry's expiry while its batch is written.
    const batch = [...this.unsaved.values()].map((entry) => ({ ...entry }));
    const fresh = this.takeFresh();
    const [saved] = await Promise.all([this.save(batch), this.sendToCache(fresh)]);
    if (saved) {
      this.trim();
      return;
    }
    // Not at once again: wait a full interval.
    await Bun.sleep(this.options.flushMs);
  }

  /**
   * Trims the store lists of the users due, unless a trim is under way (they
   * wait for a batch after it). Not awaited by the batch: a trim of every
   * user at once (2000 users reaching the bound together took 1.1 s) held
   * the batches back until the buffer's bound dropped entries (bench/RESULTS.md,
   * "User lookups of one turn in one statement"). A trim deletes only rows
   * older than each user's 50th newest, so the batches saved beside it are
   * not touched.
   */
  private trim(): void {
    if (this.trimming !== null || this.trims.size === 0) return;
    const users = [...this.trims];
    this.trims.clear();
    this.trimming = this.store
      .trimSessions(users, this.options.maxPerUser)
      .catch((err: unknown) => {
        this.failed('trimming', { err, users: users.length });
        for (const userId of users) this.trims.add(userId);
      })
      .finally(() => {
        this.trimming = null;
        // The users put back, or found due meanwhile, go with a batch after it.
        this.schedule();
      });
  }

  /** The logins not yet sent to Redis, taken out of the buffer's queue for it. */
  private takeFresh(): ListedSession[] {
    const fresh = this.toCache;
    this.toCache = [];
    return fresh;
  }

  /** Once the batch being written and every Redis command sent ahead of one have ended. */
  private async settled(): Promise<void> {
    await this.flushing;
    await Promise.all(this.sending);
    await this.trimming;
  }

  private failed(what: 'trimming' | 'saving a batch', fields: Record<string, unknown>): void {
    const leftOut = this.failures.pass(what);
    if (leftOut === null) return;
    const counted = leftOut > 0 ? { ...fields, failedSinceLastLine: leftOut } : fields;
    this.log.warn(counted, `session list: ${what} failed, will retry`);
  }

  /**
   * Saves a batch in the store; false when it could not. Its entries stay in
   * the buffer until the store has them, so a listing in between finds them
   * there (it once missed them: out of the buffer, not yet in the store, and
   * Redis read before the batch's command); then they leave it, but for one
   * a renewal raised meanwhile, which the next batch saves again.
   */
  private async save(batch: ListedSession[]): Promise<boolean> {
    if (batch.length === 0) return true;
    try {
      await this.store.saveSessions(batch);
    } catch (err) {
      this.failed('saving a batch', { err, sessions: batch.length });
      return false;
    }
    for (const entry of batch) {
      const now = this.unsaved.get(entry.sessionId);
      if (now !== undefined && now.expiresAtMs <= entry.expiresAtMs)
        this.unsaved.delete(entry.sessionId);
    }
    return true;
  }

  /**
   * The logins of a batch, in one command: each entry, the key's expiry,
   * and the trims Redis found due, which the store then does too.
   */
  private async sendToCache(entries: ListedSession[]): Promise<void> {
    const cache = this.cache;
    if (cache === null || entries.length === 0) return;
    try {
      const trimmed = await cache.evalEach(
        LIST,
        [this.now(), this.options.maxPerUser],
        entries.map((entry) => ({
          key: listKey(entry.userId),
          args: [entry.sessionId, encodeEntry(entry)],
        })),
      );
      for (const [i, entry] of entries.entries())
        if ((trimmed[i] ?? 0) > 0) this.trims.add(entry.userId);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'session list: cache unreachable');
      // Redis did not count them: this process does, for the store's trims.
      for (const entry of entries) this.countForTrim(entry.userId);
    }
    this.schedule();
  }

  private async renew(cache: Cache, entry: ListedSession): Promise<void> {
    const now = this.now();
    const ttlMs = entry.expiresAtMs - now;
    try {
      await cache.eval(RENEW, listKey(entry.userId), [
        entry.sessionId,
        entry.expiresAtMs,
        encodeEntry(entry),
        ttlMs,
      ]);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'session list: cache unreachable');
    }
  }

  /**
   * Counts a listing of this user's session here, where Redis does not
   * (none, or unreachable). Past twice the bound since the last trim the
   * user's store list is trimmed after the next batch, and the count starts
   * again from the bound.
   */
  private countForTrim(userId: string): void {
    const n = (this.counts.get(userId) ?? 0) + 1;
    this.counts.delete(userId);
    const { maxPerUser } = this.options;
    if (n > 2 * maxPerUser) this.trims.add(userId);
    this.counts.set(userId, n > 2 * maxPerUser ? maxPerUser : n);
    if (this.counts.size > MAX_COUNTED_USERS) {
      this.counts.delete(this.counts.keys().next().value as string);
    }
  }

  private async fromCache(userId: string): Promise<ListedSession[]> {
    if (this.cache === null) return [];
    let fields: Map<string, string>;
    try {
      fields = await this.cache.hashGetAll(listKey(userId));
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'session list: cache unreachable');
      return [];
    }
    const entries: ListedSession[] = [];
    for (const [sessionId, value] of fields) {
      const entry = decodeEntry(userId, sessionId, value);
      if (entry !== null) entries.push(entry);
    }
    return entries;
  }
}

function listKey(userId: string): string {
  return `ss:${userId}`;
}

/** `<expiry>:<start>:<0|1>:["<address>","<user agent>"]`: the numbers first, for the scripts. */
function encodeEntry(entry: ListedSession): string {
  const { expiresAtMs, createdAtMs, persistent, address, userAgent } = entry;
  return `${expiresAtMs}:${createdAtMs}:${persistent ? 1 : 0}:${JSON.stringify([address, userAgent])}`;
}

const ENTRY = /^(\d+):(\d+):([01]):(.*)$/s;

function decodeEntry(userId: string, sessionId: string, value: string): ListedSession | null {
  const match = ENTRY.exec(value);
  if (match === null) return null;
  try {
    const [address, userAgent] = JSON.parse(match[4] as string) as unknown[];
    if (typeof address !== 'string' || typeof userAgent !== 'string') return null;
    return {
      sessionId,
      userId,
      expiresAtMs: Number(match[1]),
      createdAtMs: Number(match[2]),
      persistent: match[3] === '1',
      address,
      userAgent,
    };
  } catch {
    return null;
  }
}

/** Printable ASCII only (what the store's columns hold), cut to `max` characters. */
function printable(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  return /^[\x20-\x7e]*$/.test(cut) ? cut : cut.replace(/[^\x20-\x7e]/g, '?');
}
