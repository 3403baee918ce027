/**
 * The revoked-session list (logout). Invariants:
 * - the store is the source of truth: a logout is answered only after the
 *   store has it;
 * - the cache mirrors it for the per-request check in shards chosen by the
 *   session id (16 on a Redis Cluster, 1 on a single Redis): `rv:{s<n>}:<session id>` with a TTL equal to the
 *   token's remaining life, and a sentinel `rv:{s<n>}:loaded` per shard,
 *   which says "1" after a full load of the shard from the store. The hash
 *   tag `{s<n>}` keeps a shard's entries and its sentinel in one Redis
 *   Cluster slot, so a node that loses its data loses both together;
 * - Redis keeps nothing on disk, so a sentinel that is not "1" means the
 *   shard was lost (restart, flush, a node emptied) or is being loaded: the
 *   shard is reloaded from the store (one load per shard at a time; shards
 *   found lost in one turn load together, each reading only its own ranges
 *   of session ids, a page at a time) before a Redis "not
 *   revoked" is trusted again, and the checks that found it so wait for that
 *   load, within their deadline, and then read Redis again. They do not each
 *   ask the store: under load that many reads at once overflowed the bypass
 *   cap;
 * - a logout this process could not mirror yet counts as revoked in its
 *   checks whatever Redis says, until its write is replayed;
 * - a load marks the sentinel with a token of its own before it reads the
 *   store, and turns it into "1" only if its mark is still there (one atomic
 *   script): a shard lost during the load loses the mark too, and the load
 *   is not trusted; its checks read again (and load again);
 * - a check reads the session's entry, then its shard's sentinel, never in
 *   the other order; one read of a sentinel serves every check of that shard
 *   begun in the same turn of the event loop;
 * - concurrent checks of one session share one read of its entry and
 *   sentinel; a revoke here drops that shared read once written, so a check
 *   made after a logout has returned never gets an answer read before it;
 * - when the cache is unreachable, the store answers behind the shared
 *   bypass cap; a refusal there is UNAVAILABLE (fail closed), never "valid";
 * - mirror writes that fail are replayed when the cache recovers, and kept
 *   in the store (a cache repair) before the logout is answered, so that
 *   another server writes them if this one stops first (cache-repairs.ts);
 *   a server whose write of a repair fails counts it as revoked until one
 *   succeeds (Redis may answer reads while it refuses writes).
 */
import type { Cache, CacheScript } from '../cache/port.ts';
import { type Deadline, withTimeout } from '../lib/deadline.ts';
import type { Semaphore } from '../lib/semaphore.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { RevokedRange, RevokedSession, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { refuseBypass } from './cached-users.ts';

/**
 * Shards of the mirror on a Redis Cluster. A power of two that spreads over
 * the nodes of a small cluster (16 tags land 6/4/6 on a fresh 3-node one),
 * and few enough that the sentinels read per turn stay few. A single Redis
 * needs one: it holds every key anyway, and each shard more is one more
 * sentinel read in a busy turn. Every server sharing a Redis must use the
 * same number (they do: it follows from REDIS_CLUSTER_NODES being set).
 */
export const SHARDS = 16;
const SENTINEL_TTL_MS = 30 * 86_400_000;
const REVOKED = '1';
/** Mirror writes of a reload in flight at once. */
const RELOAD_WRITES = 1000;
/** Revocations a reload reads from the store at once: its memory, whatever their number. */
const RELOAD_PAGE = 5000;
/** The sentinel's value once its shard is loaded; a load under way writes `loading,<token>…`. */
const LOADED = '1';
/** A sentinel longer than this (marks of loads that never finished) starts over. */
const MAX_MARKS_BYTES = 1024;

/** Marks a load of the shard whose sentinel is KEYS[1] as under way: [1], or [0] when it is loaded. */
const BEGIN_RELOAD: CacheScript = {
  name: 'usermgrReloadBegin',
  lua: `local state = redis.call('GET', KEYS[1])
if state == '${LOADED}' then return {0} end
if not state or #state > ${MAX_MARKS_BYTES} then state = 'loading' end
redis.call('SET', KEYS[1], state .. ',' .. ARGV[1], 'PX', ARGV[2])
return {1}`,
};

/** Marks the shard loaded if the load's mark (ARGV[1]) is still there: [1], else [0]. */
const FINISH_RELOAD: CacheScript = {
  name: 'usermgrReloadFinish',
  lua: `local state = redis.call('GET', KEYS[1])
if state and string.find(state .. ',', ',' .. ARGV[1] .. ',', 1, true) then
  redis.call('SET', KEYS[1], '${LOADED}', 'PX', ARGV[2])
  return {1}
end
return {0}`,
};

/** The scripts the cache must be given (see createRedisCache). */
export const REVOCATION_SCRIPTS: readonly CacheScript[] = [BEGIN_RELOAD, FINISH_RELOAD];

/**
 * What a load tells its checks: true when it ended (its entries are in
 * Redis and its sentinel says so, or it must not be trusted: the shard was
 * lost during it, or loaded by another; either way they read Redis again),
 * false when it failed (they ask the store).
 */
type Ended = boolean;

interface ShardLoad {
  done: Promise<Ended>;
  settle: (ended: Ended) => void;
}

type EntryAndSentinel = [Uint8Array | null, Uint8Array | null];

export class Revocations {
  /** Per shard, the load under way. */
  private readonly loads = new Map<number, ShardLoad>();
  /** Shards asked for in this turn, loaded together after it. */
  private queued: Map<number, ShardLoad> | null = null;
  /** The sentinel reads of this turn, one per shard. */
  private sentinelReads: Map<number, PromiseWithResolvers<Uint8Array | null>> | null = null;
  private readonly reads = new SingleFlight<EntryAndSentinel>();
  private readonly pending = new Map<string, number>();
  /** Per shard, its ranges of session ids in the store (shardRanges). */
  private readonly ranges: IdRange[][];

  constructor(
    private readonly store: UserStore,
    private readonly cache: Cache | null,
    private readonly bypass: Semaphore,
    private readonly log: Logger,
    /** A power of two, at most SHARDS. */
    private readonly shards = SHARDS,
  ) {
    if (shards < 1 || shards > SHARDS || (shards & (shards - 1)) !== 0)
      throw new Error(`shards must be a power of two from 1 to ${SHARDS}, not ${shards}`);
    this.ranges = shardRanges(shards);
    cache?.onRecover(() => this.replay());
  }

  async revoke(
    sessionId: string,
    userId: string,
    expiresAtMs: number,
    nowMs: number,
  ): Promise<void> {
    await this.store.revokeSession(sessionId, userId, expiresAtMs);
    if (this.cache === null) return;
    try {
      await this.cache.set(this.entryKey(sessionId), REVOKED, expiresAtMs - nowMs);
    } catch {
      this.pending.set(sessionId, expiresAtMs);
      await this.keepRepair(sessionId, expiresAtMs);
    } finally {
      // A check made from now on must not join a read begun before the write.
      this.reads.forget(sessionId);
    }
  }

  /**
   * Writes a revocation the mirror missed (a repair kept in the store); throws when Redis
   * does not take it, and then counts it as revoked in this process's checks until a
   * later repair writes it: Redis may answer reads while it refuses writes (full under
   * `noeviction`, a read-only replica), its sentinel still saying "complete", and every
   * server but the one that took the logout accepted the session, that one too once
   * restarted (a failure audit). Every server reads the repairs every few seconds.
   */
  async repairMirror(sessionId: string, expiresAtMs: number, nowMs: number): Promise<void> {
    if (this.cache === null || expiresAtMs <= nowMs) return;
    try {
      await this.cache.set(this.entryKey(sessionId), REVOKED, expiresAtMs - nowMs);
    } catch (err) {
      this.holdUnwritten(sessionId, expiresAtMs, nowMs);
      throw err;
    }
    if (this.pending.get(sessionId) === expiresAtMs) this.pending.delete(sessionId);
    this.reads.forget(sessionId);
  }

  /** A revocation Redis does not take (a repair): revoked in this process's checks until written. */
  holdUnwritten(sessionId: string, expiresAtMs: number, nowMs: number): void {
    if (this.cache === null || expiresAtMs <= nowMs) return;
    if (!this.pending.has(sessionId)) this.pending.set(sessionId, expiresAtMs);
    this.reads.forget(sessionId);
  }

  /** Forgets held revocations whose sessions have expired (no recovery of Redis may come to replay them). */
  forgetExpiredHolds(nowMs: number): void {
    for (const [sessionId, expiresAtMs] of this.pending)
      if (expiresAtMs <= nowMs) this.pending.delete(sessionId);
  }

  /** Keeps a logout Redis missed in the store, for whichever server reaches Redis first. */
  private async keepRepair(sessionId: string, expiresAtMs: number): Promise<void> {
    try {
      await this.store.addCacheRepair({ kind: 'session', item: sessionId, expiresAtMs });
    } catch (err) {
      // Still pending here; only this process's memory holds it now.
      this.log.error(
        { err },
        'a logout Redis did not take could not be kept in the store either: other TCP servers may accept the session until this one writes it to Redis',
      );
    }
  }

  /**
   * Set while the repairs kept in the store are being written after a start or
   * a recovery of Redis (cache-repairs.ts): checks wait for them, since Redis
   * may lack a logout another server took during the outage. Always settles.
   */
  repairing: Promise<void> | null = null;

  async isRevoked(sessionId: string, nowMs: number, deadline: Deadline): Promise<boolean> {
    const cache = this.cache;
    if (cache === null) return this.store.isSessionRevoked(sessionId, nowMs);
    if (this.repairing !== null) await this.repairing;
    // A logout this process could not mirror yet: revoked, whatever Redis says.
    if (this.pending.has(sessionId)) return true;
    const shard = shardOf(sessionId, this.shards);
    for (;;) {
      let entry: Uint8Array | null;
      let sentinel: Uint8Array | null;
      try {
        // Concurrent checks of one session share the pair; revoke() forgets it.
        [entry, sentinel] = await this.reads.run(sessionId, () =>
          // The entry first, the sentinel after it (see sentinelAfterEntries).
          Promise.all([cache.get(entryKey(sessionId, shard)), this.sentinelAfterEntries(shard)]),
        );
      } catch {
        return this.fromStore(sessionId, nowMs, deadline);
      }
      if (entry !== null) return true;
      // A logout this process could not mirror since the check began counts too.
      if (isLoaded(sentinel)) return this.pending.has(sessionId);
      if (!(await this.untilLoaded(shard, nowMs, deadline)))
        return this.fromStore(sessionId, nowMs, deadline);
      // The entry and the sentinel once more, now that the load ended.
      if (deadline.expired()) throw stillLoading();
    }
  }

  /** Waits for the shard's load (starting one if none is under way) until `deadline`. */
  private async untilLoaded(shard: number, nowMs: number, deadline: Deadline): Promise<Ended> {
    const load = this.load(shard, nowMs);
    return withTimeout(load.done, Math.max(0, deadline.remainingMs()), () => {
      throw stillLoading();
    });
  }

  /**
   * One read of a shard's sentinel for all the checks of that shard that
   * began in this turn of the event loop (every request of a socket read
   * starts in one), issued after all their entry reads. The order matters:
   * an entry read that finds nothing because the shard was lost must not be
   * paired with a sentinel read from before the loss; read after it, the
   * sentinel is gone too (both keys live on one node).
   */
  private sentinelAfterEntries(shard: number): Promise<Uint8Array | null> {
    let reads = this.sentinelReads;
    if (reads === null) {
      const turn = new Map<number, PromiseWithResolvers<Uint8Array | null>>();
      reads = turn;
      this.sentinelReads = turn;
      const cache = this.cache as Cache;
      // All in one microtask, so that they go out in one pipeline.
      queueMicrotask(() => {
        this.sentinelReads = null;
        for (const [n, read] of turn) cache.get(sentinelKey(n)).then(read.resolve, read.reject);
      });
    }
    let read = reads.get(shard);
    if (read === undefined) {
      read = Promise.withResolvers();
      reads.set(shard, read);
    }
    return read.promise;
  }

  private fromStore(sessionId: string, nowMs: number, deadline: Deadline): Promise<boolean> {
    return this.bypass.run(
      deadline,
      () => this.store.isSessionRevoked(sessionId, nowMs),
      refuseBypass,
    );
  }

  /** The shard's load under way, or a new one, started with the others asked for in this turn. */
  private load(shard: number, nowMs: number): ShardLoad {
    const current = this.loads.get(shard);
    if (current !== undefined) return current;
    const { promise, resolve } = Promise.withResolvers<Ended>();
    const load: ShardLoad = {
      done: promise,
      settle: (ended) => {
        if (this.loads.get(shard) === load) this.loads.delete(shard);
        resolve(ended);
      },
    };
    this.loads.set(shard, load);
    if (this.queued === null) {
      const queued = new Map<number, ShardLoad>();
      this.queued = queued;
      queueMicrotask(() => {
        this.queued = null;
        void this.reload(queued, nowMs);
      });
    }
    this.queued.set(shard, load);
    return load;
  }

  /**
   * Rebuilds the given shards of the mirror from the store. Each shard's
   * sentinel is marked before any read and set to "1" only if the mark
   * survived the writes. When a shard's load ends (loaded, lost in between,
   * or found loaded already), its checks read Redis again.
   */
  private async reload(shards: Map<number, ShardLoad>, nowMs: number): Promise<void> {
    const cache = this.cache as Cache;
    const token = crypto.randomUUID();
    try {
      const marked: [number, ShardLoad][] = [];
      await Promise.all(
        [...shards].map(async ([shard, load]) => {
          const [began] = await cache.eval(BEGIN_RELOAD, sentinelKey(shard), [
            token,
            SENTINEL_TTL_MS,
          ]);
          if (began === 1) marked.push([shard, load]);
          else load.settle(true);
        }),
      );
      if (marked.length === 0) return;
      // One shard after another, so at most RELOAD_WRITES writes are in
      // flight in all (16 shards at once on a cluster would be 16 times
      // that), and a failure stops the writes of the shards after it. Each
      // shard reads only its own ranges of session ids, a page at a time
      // (10 million revocations in one array would take gigabytes), after
      // every shard was marked.
      const confirmed: boolean[] = [];
      let sessions = 0;
      for (const [shard, load] of marked) {
        let writes: Promise<boolean>[] = [];
        for await (const r of this.revokedIn(shard, nowMs)) {
          sessions++;
          writes.push(cache.set(entryKey(r.sessionId, shard), REVOKED, r.expiresAtMs - nowMs));
          // A bounded number in flight: sent all at once, the last of
          // 100,000 waited longer than a command may, and every reload
          // failed (bench/RESULTS.md, "The mirror's reload at 100,000").
          if (writes.length === RELOAD_WRITES) {
            await Promise.all(writes);
            writes = [];
          }
        }
        await Promise.all(writes);
        const [finished] = await cache.eval(FINISH_RELOAD, sentinelKey(shard), [
          token,
          SENTINEL_TTL_MS,
        ]);
        load.settle(true);
        confirmed.push(finished === 1);
      }
      const lost = confirmed.filter((ok) => !ok).length;
      this.log.info(
        { shards: marked.length, lostDuringLoad: lost, sessions },
        'revoked-session mirror reloaded into the cache',
      );
    } catch (err) {
      this.log.warn({ err }, 'could not reload the revoked-session mirror');
    } finally {
      // A shard not settled above failed: its checks ask the store (settling twice is a no-op).
      for (const load of shards.values()) load.settle(false);
    }
  }

  /**
   * The store's live revocations of a shard, read a page at a time over the
   * shard's ranges of session ids. A page starts at the last id of the one
   * before (ids are unique: that one is skipped), so rows revoked or purged
   * meanwhile can neither stop nor repeat the walk.
   */
  private async *revokedIn(shard: number, nowMs: number): AsyncGenerator<RevokedSession> {
    for (const { from: start, before } of this.ranges[shard] ?? []) {
      let from = start;
      let after: string | null = null;
      for (;;) {
        const page = await this.store.listRevokedSessions(nowMs, {
          from,
          before,
          limit: RELOAD_PAGE,
        });
        for (const r of page) if (r.sessionId !== after) yield r;
        const last = page.at(-1);
        if (page.length < RELOAD_PAGE || last === undefined) break;
        // A store that ignored the range or its order would walk forever.
        if (last.sessionId <= from)
          throw new Error('the store did not page revocations in id order');
        from = after = last.sessionId;
      }
    }
  }

  private entryKey(sessionId: string): string {
    return entryKey(sessionId, shardOf(sessionId, this.shards));
  }

  /**
   * Writes the logouts Redis missed. Each stays pending until its write is
   * answered: the recovery that calls this runs inside the first command
   * Redis answers again, which may be a check's own read of that session.
   */
  private replay(): void {
    const now = Date.now();
    for (const [sessionId, expiresAtMs] of this.pending) {
      if (expiresAtMs <= now) {
        this.pending.delete(sessionId);
        continue;
      }
      this.cache?.set(this.entryKey(sessionId), REVOKED, expiresAtMs - now).then(
        () => {
          if (this.pending.get(sessionId) === expiresAtMs) this.pending.delete(sessionId);
          this.reads.forget(sessionId);
        },
        () => {}, // Still pending: the next recovery writes it.
      );
    }
  }
}

/** The mirror's load outlasted a check's deadline: fail closed, and say when to come back. */
function stillLoading(): RpcError {
  return new RpcError(Status.UNAVAILABLE, 'the service is degraded, try again in a moment', {
    retryAfterS: 1,
    cause: 'revoked-session mirror still loading at the deadline',
  });
}

function isLoaded(sentinel: Uint8Array | null): boolean {
  return sentinel !== null && sentinel.length === 1 && sentinel[0] === LOADED.charCodeAt(0);
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The 6 bits (random) a session id's first character stands for. */
const CHAR_BITS = new Uint8Array(128);
for (let i = 0; i < BASE64URL.length; i++) CHAR_BITS[BASE64URL.charCodeAt(i)] = i;
const SHARD_PREFIXES = Array.from({ length: SHARDS }, (_, n) => `rv:{s${n}}:`);

/**
 * Each shard's ranges of session ids in the store's binary order, [from,
 * before): one per run of first characters (printable ASCII) of that shard,
 * next to each other in that order. The ranges of all shards cover every
 * session id, and each id lies in a range of its own shard.
 */
function shardRanges(shards: number): IdRange[][] {
  const ranges: IdRange[][] = Array.from({ length: shards }, () => []);
  const FIRST = 0x21;
  const LAST = 0x7e;
  let start = FIRST;
  for (let c = FIRST + 1; c <= LAST + 1; c++) {
    const shard = shardOf(String.fromCharCode(start), shards);
    if (c <= LAST && shardOf(String.fromCharCode(c), shards) === shard) continue;
    ranges[shard]?.push({
      from: start === FIRST ? '' : String.fromCharCode(start),
      before: c > LAST ? null : String.fromCharCode(c),
    });
    start = c;
  }
  return ranges;
}
type IdRange = Pick<RevokedRange, 'from' | 'before'>;

/** The shard of a session id (base64url of random bytes) among `shards` (a power of two). */
export function shardOf(sessionId: string, shards = SHARDS): number {
  return (CHAR_BITS[sessionId.charCodeAt(0) & 127] ?? 0) & (shards - 1);
}

/** The key of a session's entry: in its shard's hash slot. */
export function entryKey(sessionId: string, shard = shardOf(sessionId)): string {
  return `${SHARD_PREFIXES[shard]}${sessionId}`;
}

/** The key of a shard's sentinel: in the same hash slot as its entries. */
export function sentinelKey(shard: number): string {
  return `${SHARD_PREFIXES[shard]}loaded`;
}
