/**
 * Each user's list of live sessions ("Where you're logged in"): what a login
 * saw (its address, its User-Agent, when), for the user to see and to end a
 * session by name. A record, not what makes a session valid: a token is
 * valid by its signature, the revoked list and sessions_valid_after
 * (session-tokens.ts, revocations.ts, accounts.ts), whatever the list says;
 * ending a session revokes it, and only then takes it off the list.
 *
 * Invariants:
 * - a login writes one Redis step: HSET of its entry in the user's hash
 *   `ss:<user id>`, with in the same pipeline, now and then, the key's
 *   expiry (the first login of the user this process sees, then every 16th)
 *   and a trim (below). Mostly one plain command: a Lua script doing the
 *   same cost Redis 20 us and this process 20 us per login, HSET 4 and 7
 *   (bench/RESULTS.md). Nothing else is waited for on the login's path, and
 *   a failure there never fails a login;
 * - durably, the same entries reach the store behind the logins, in batches
 *   (one statement per FLUSH_AT entries, or whatever FLUSH_MS gathered), as
 *   revocations do but without a store write per login. An entry not yet
 *   saved is read from this process's buffer, and by the other servers from
 *   Redis; without Redis, the buffer is the "Redis step" (one process);
 * - a read is the union of Redis, the store and the buffer, so that losing
 *   any one of them (Redis restarted, a batch not yet written) loses no entry
 *   that another holds; entries of one session merge to the latest expiry;
 * - bounded per user: this process counts the logins of each user it lists
 *   (the counts themselves bounded); past 2 x `maxPerUser` since the last
 *   trim, the user's hash is trimmed to `maxPerUser` (expired entries first,
 *   then the oldest; one script, in the login's pipeline) and so is the
 *   user's store list after the next batch. A user logging in a million
 *   times costs at most 2 x `maxPerUser` entries per TCP server in Redis and
 *   in the store (a few times that across restarts, which forget the
 *   counts), never a million. A session trimmed off the list stays valid
 *   until it expires; "log out everywhere" ends it;
 * - the hash's expiry is approximate (the latest entry's life when it is
 *   set): an entry Redis drops early is still in the store, and a read takes
 *   both;
 * - the buffer is bounded (`maxUnsaved`): while the store refuses batches,
 *   the oldest entries beyond it are dropped (counted and logged), never the
 *   process's memory.
 */
import type { Cache, CacheScript } from '../cache/port.ts';
import type { Logger } from '../log.ts';
import type { ListedSession, UserStore } from '../store/port.ts';

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
  maxPerUser: 50,
  flushMs: 100,
  flushAt: 256,
  maxUnsaved: 20_000,
};

/** Users whose logins this process counts (the oldest go first). */
const MAX_COUNTED_USERS = 100_000;
/** The hash's expiry is set at a user's first login seen here, then at every this many. */
const EXPIRY_EVERY = 16;
/** What the store keeps of a login's address and User-Agent (the columns' widths). */
const MAX_ADDRESS_CHARS = 64;
const MAX_USER_AGENT_CHARS = 256;

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
 * Trims the hash KEYS[1] to ARGV[2] entries: those expired at ARGV[1]
 * first, then the oldest by start. Answers [entries removed].
 */
const TRIM: CacheScript = {
  name: 'usermgrSessionTrim',
  lua: `local now = tonumber(ARGV[1])
local bound = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local removed = 0
local live = {}
local expired = {}
for i = 1, #all, 2 do
  local e, c = string.match(all[i + 1], '^(%d+):(%d+):')
  if not e or tonumber(e) <= now then
    expired[#expired + 1] = all[i]
  else
    live[#live + 1] = {all[i], tonumber(c)}
  end
end
if #expired > 0 then
  redis.call('HDEL', KEYS[1], unpack(expired))
  removed = #expired
end
if #live > bound then
  table.sort(live, function(a, b) return a[2] < b[2] end)
  local oldest = {}
  for i = 1, #live - bound do oldest[i] = live[i][1] end
  redis.call('HDEL', KEYS[1], unpack(oldest))
  removed = removed + #oldest
end
return {removed}`,
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
export const SESSION_LIST_SCRIPTS: readonly CacheScript[] = [RENEW, TRIM, FORGET];

export class SessionList {
  /** Entries not yet in the store, by session id (Map order: oldest first). */
  private readonly unsaved = new Map<string, ListedSession>();
  /** Users whose store list is trimmed after the next batch. */
  private readonly trims = new Set<string>();
  /** Logins per user listed by this process since its last trim. */
  private readonly counts = new Map<string, number>();
  private timer: Timer | null = null;
  private flushing: Promise<void> | null = null;
  private readonly options: SessionListOptions;
  /** Entries dropped because the store could not take them in time. */
  dropped = 0;

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
   * with `renewal`: its other fields are kept). Never throws: a side that
   * fails loses the entry, and the others still hold it.
   */
  async record(entry: ListedSession, renewal = false): Promise<void> {
    const clean = {
      ...entry,
      address: printable(entry.address, MAX_ADDRESS_CHARS),
      userAgent: printable(entry.userAgent, MAX_USER_AGENT_CHARS),
    };
    this.keep(clean);
    const seen = this.count(clean.userId);
    const trim = seen > 2 * this.options.maxPerUser;
    if (trim) this.trims.add(clean.userId);
    const cache = this.cache;
    if (cache === null) return;
    const key = listKey(clean.userId);
    const now = this.now();
    const ttlMs = clean.expiresAtMs - now;
    try {
      // One pipeline: these are made in one turn, and nothing awaits between them.
      await Promise.all([
        renewal
          ? cache.eval(RENEW, key, [clean.sessionId, clean.expiresAtMs, encodeEntry(clean), ttlMs])
          : cache.hashSet(
              key,
              clean.sessionId,
              encodeEntry(clean),
              seen === 1 || seen % EXPIRY_EVERY === 0 ? ttlMs : null,
            ),
        trim ? cache.eval(TRIM, key, [now, this.options.maxPerUser]) : null,
      ]);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'session list: cache unreachable');
    }
  }

  /** The user's listed sessions unexpired at `nowMs`, newest first, at most `maxPerUser`. */
  async list(userId: string, nowMs: number): Promise<ListedSession[]> {
    const { maxPerUser } = this.options;
    const [cached, stored] = await Promise.all([
      this.fromCache(userId),
      this.store.listSessions(userId, nowMs, 2 * maxPerUser),
    ]);
    const merged = new Map<string, ListedSession>();
    for (const entry of [...cached, ...stored, ...this.unsaved.values()]) {
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
    for (const id of sessionIds) this.unsaved.delete(id);
    // A batch being written may carry them: delete after it.
    await this.flushing;
    await Promise.all([
      this.store.deleteSessions(userId, sessionIds),
      this.cache?.hashDelete(listKey(userId), sessionIds),
    ]);
  }

  /** Takes off the user's list every session begun at or before `createdUpToMs` (all ended). */
  async forget(userId: string, createdUpToMs: number): Promise<void> {
    for (const [id, entry] of this.unsaved)
      if (entry.userId === userId && entry.createdAtMs <= createdUpToMs) this.unsaved.delete(id);
    this.counts.delete(userId);
    await this.flushing;
    await Promise.all([
      this.store.deleteUserSessions(userId, createdUpToMs),
      this.cache?.eval(FORGET, listKey(userId), [createdUpToMs]),
    ]);
  }

  /** Writes what is buffered now; resolves when written (or put back after a failure). */
  flush(): Promise<void> {
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
    await this.flushing;
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
      void this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.options.flushMs);
      this.timer.unref();
    }
  }

  private async write(): Promise<void> {
    const batch = [...this.unsaved.values()];
    const trims = [...this.trims];
    this.unsaved.clear();
    this.trims.clear();
    try {
      // Trims after the batch, so that they count its entries.
      await this.store.saveSessions(batch);
      for (const userId of trims) await this.store.trimSessions(userId, this.options.maxPerUser);
    } catch (err) {
      this.log.warn(
        { err, sessions: batch.length },
        'session list: saving a batch failed, will retry',
      );
      // Back in the buffer, behind what came meanwhile (which is newer).
      for (const entry of batch) {
        const seen = this.unsaved.get(entry.sessionId);
        if (seen === undefined) this.unsaved.set(entry.sessionId, entry);
        else seen.expiresAtMs = Math.max(seen.expiresAtMs, entry.expiresAtMs);
      }
      for (const userId of trims) this.trims.add(userId);
      // Not at once again: wait a full interval.
      await Bun.sleep(this.options.flushMs);
    }
  }

  /**
   * Counts a listing of this user's session here: the count since the last
   * trim (1 for a user not seen before). Past twice the bound the user's
   * list is trimmed, and the count starts again from the bound.
   */
  private count(userId: string): number {
    const n = (this.counts.get(userId) ?? 0) + 1;
    this.counts.delete(userId);
    const { maxPerUser } = this.options;
    this.counts.set(userId, n > 2 * maxPerUser ? maxPerUser : n);
    if (this.counts.size > MAX_COUNTED_USERS) {
      this.counts.delete(this.counts.keys().next().value as string);
    }
    return n;
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
