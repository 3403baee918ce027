/**
 * Users by username, read through the cache. Invariants:
 * - concurrent lookups of one username share one cache read and at most one
 *   store read (single flight), with or without a cache;
 * - every write to a user is followed by invalidate(username), which replaces
 *   the cache entry with a short tombstone and forgets the in-process flight:
 *   a lookup after the write never joins a flight begun before it, and a
 *   lookup that read the store before the write cannot put the old row back
 *   (entries are only ever added with SET NX, which a tombstone blocks);
 *   writes that end sessions or change what a login checks are also
 *   preceded by one (writing()), so that a server that dies between its
 *   store write and the tombstone after it leaves no old row served for a
 *   cache TTL (a deleted user logging in, an old password working);
 * - or, for a write made through update() (the nickname), by a write-through
 *   of the new row: it replaces an entry only when that holds an older
 *   version of the row or none (a Lua compare in Redis), never a tombstone or
 *   a newer row, and only within half a tombstone's life of the write (a
 *   later writer's tombstone cannot have expired yet); otherwise it
 *   tombstones. A stale row can never overwrite a newer one;
 * - update()s of one user in this process run one after another, each
 *   handing the row it wrote to the next as the row seen (and the rows
 *   written in the last second or two are remembered, for an update whose
 *   session check read the cache before the previous write reached it), so a
 *   version-guarded store write is not defeated by its own siblings;
 * - cache values are `v<version>:` then UserRecord protobuf (user-record.ts); the markers
 *   start with 0x00: [0] = "no such user" (short TTL), [0, 1] = tombstone; a
 *   value of neither form (a record cached before versions) is version 0;
 * - when the cache is unreachable, lookups go to the store behind a shared
 *   concurrency cap (`bypass`), and a refusal is UNAVAILABLE, not a pile-up;
 *   invalidations that could not be written are written when it recovers,
 *   and kept in the store (a cache repair) before the change is answered, so
 *   that another server writes them if this one stops first
 *   (cache-repairs.ts).
 */

import type { Cache, CacheScript } from '../cache/port.ts';
import type { Deadline } from '../lib/deadline.ts';
import { ExpiringKeys } from '../lib/expiring-keys.ts';
import type { Refusal, Semaphore } from '../lib/semaphore.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { decode, encode } from './user-record.ts';

export interface CachedUsersOptions {
  ttlMs: number;
  negativeTtlMs: number;
  /** Longer than any store read can take. */
  tombstoneMs: number;
  /** Most invalidations remembered during an outage; beyond it, they are dropped with a warning. */
  maxPendingInvalidations?: number;
}

/** What an update()'s store write returned, and when (performance.now()) it began. */
interface Written {
  row: UserRow | null;
  startedMs: number;
}

const NO_SUCH_USER = new Uint8Array([0]);
const TOMBSTONE = new Uint8Array([0, 1]);

/**
 * For each KEYS[i], with its three arguments from ARGV[3i - 2]: sets the key
 * to the record (ARGV[3i - 1], of version ARGV[3i - 2]) for ARGV[3i] ms,
 * unless it holds a marker (tombstone, no such user) or a record of that
 * version or a newer one. Answers, per key, 1 when set. The write-throughs
 * of one turn are one run of it on a single Redis (Cache.eval of a
 * manyKeys script), each key decided alone as if it ran by itself.
 */
const WRITE_THROUGH: CacheScript = {
  name: 'usermgrUserWriteThrough',
  manyKeys: true,
  lua: `local set = {}
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local newer = false
  if current then
    if string.byte(current, 1) == 0 then
      newer = true
    else
      local version = tonumber(string.match(current, '^v(%d+):') or '0')
      newer = version >= tonumber(ARGV[3 * i - 2])
    end
  end
  set[i] = 0
  if not newer then
    redis.call('SET', KEYS[i], ARGV[3 * i - 1], 'PX', ARGV[3 * i])
    set[i] = 1
  end
end
return set`,
};

/** The scripts CachedUsers runs: give them to createRedisCache. */
export const USER_SCRIPTS: readonly CacheScript[] = [WRITE_THROUGH];

export class CachedUsers {
  readonly counts = { hits: 0, misses: 0, storeReads: 0, bypassed: 0 };
  private readonly flights = new SingleFlight<UserRow | null>();
  /** By user id: the store write of the latest update() begun in this process. */
  private readonly writes = new Map<string, Promise<Written>>();
  /**
   * By user id: rows update() wrote in the last one to two seconds, for an
   * update whose session check read the cache before the previous write
   * reached it (two generations, swapped by the clock: no timer per write).
   */
  private recent = new Map<string, UserRow>();
  private older = new Map<string, UserRow>();
  private recentSince = performance.now();
  private readonly pending = new Set<string>();
  /** Users of repairs Redis refused, until each repair stops mattering (holdUnwritten). */
  private readonly held: ExpiringKeys;
  private degraded = false;

  constructor(
    private readonly store: UserStore,
    private readonly cache: Cache | null,
    private readonly bypass: Semaphore,
    private readonly options: CachedUsersOptions,
    private readonly log: Logger,
  ) {
    this.held = new ExpiringKeys(options.maxPendingInvalidations ?? 100_000);
    cache?.onRecover(() => this.recovered());
  }

  /** The user with this username (case-insensitively), or null. */
  find(username: string, deadline: Deadline): Promise<UserRow | null> {
    const key = username.toLowerCase();
    return this.flights.run(key, () => this.lookup(key, username, deadline));
  }

  /** Call after every write that changes what find() would return for this username. */
  async invalidate(username: string): Promise<void> {
    const key = username.toLowerCase();
    this.flights.forget(key);
    if (this.cache === null) return;
    try {
      await this.cache.set(cacheKey(key), TOMBSTONE, this.options.tombstoneMs);
    } catch {
      await this.remember(key);
      return;
    }
    this.written(key);
  }

  /**
   * Runs a store write of this user between two invalidations (see the top
   * of this file): the one before leaves nothing of the old row in the
   * cache if this process stops before the one after. It lasts a tombstone's
   * life: a write that takes longer (the admin's several statements on a
   * slow store) can outlive it, and a crash after that leaves the old row
   * for CACHE_TTL_S, as before.
   */
  async writing<T>(username: string, write: () => Promise<T>): Promise<T> {
    await this.invalidate(username);
    try {
      return await write();
    } finally {
      await this.invalidate(username);
    }
  }

  /**
   * Tombstones a user's entry for a repair kept in the store; throws when Redis does not
   * take it, and then reads the user from the store in this process until a later repair
   * writes it (as for an invalidation of its own: see Revocations.repairMirror for why).
   */
  async repairEntry(lowercaseUsername: string, expiresAtMs: number): Promise<void> {
    if (this.cache === null) return;
    this.flights.forget(lowercaseUsername);
    try {
      await this.cache.set(cacheKey(lowercaseUsername), TOMBSTONE, this.options.tombstoneMs);
    } catch (err) {
      this.holdUnwritten(lowercaseUsername, expiresAtMs);
      throw err;
    }
    this.written(lowercaseUsername);
  }

  /**
   * A user change Redis does not take (a repair, which matters until `expiresAtMs`):
   * read from the store here until written or until then. Not with the invalidations
   * of this process's own changes (`pending`, cleared only when Redis recovers): a Redis
   * that refuses writes never "recovers", and the user would bypass the cache for the
   * life of the process (found in review).
   */
  holdUnwritten(lowercaseUsername: string, expiresAtMs: number): void {
    if (this.cache === null) return;
    this.flights.forget(lowercaseUsername);
    this.held.set(lowercaseUsername, expiresAtMs, Date.now());
  }

  /** The cache has this user's change now: no longer pending here. */
  private written(key: string): void {
    if (this.pending.size > 0) this.pending.delete(key);
    if (this.held.size > 0) this.held.delete(key);
  }

  /**
   * Writes a change of `seen`'s row with `write` and puts the row it returns
   * in the cache (write-through, see the header): `write` is given the row
   * to expect, `seen` or the row the previous update() of this user in this
   * process wrote, whichever is newer. Null when the user is gone.
   */
  async update(
    seen: UserRow,
    write: (expected: UserRow) => Promise<UserRow | null>,
  ): Promise<UserRow | null> {
    const written = this.afterPrevious(this.writes.get(seen.id), seen, write);
    this.writes.set(seen.id, written);
    try {
      const { row, startedMs } = await written;
      if (row === null) await this.invalidate(seen.username);
      else {
        this.remembered(row.id); // swaps generations when due
        this.recent.set(row.id, row);
        await this.writeThrough(row, startedMs);
      }
      return row;
    } catch (error) {
      // Perhaps written after all (a lost answer): whatever is cached may be stale.
      await this.invalidate(seen.username);
      throw error;
    } finally {
      if (this.writes.get(seen.id) === written) this.writes.delete(seen.id);
    }
  }

  private async afterPrevious(
    previous: Promise<Written> | undefined,
    seen: UserRow,
    write: (expected: UserRow) => Promise<UserRow | null>,
  ): Promise<Written> {
    let expected = seen;
    const known = this.remembered(seen.id);
    if (known !== undefined && known.version > expected.version) expected = known;
    if (previous !== undefined) {
      const last = await previous.then(
        (done) => done.row,
        () => null,
      );
      if (last !== null && last.version > expected.version) expected = last;
    }
    const startedMs = performance.now();
    return { row: await write(expected), startedMs };
  }

  /** The row update() last wrote for this user id in the last second or two, if any. */
  private remembered(id: string): UserRow | undefined {
    const now = performance.now();
    if (now - this.recentSince > 1000) {
      this.older = this.recent;
      this.recent = new Map();
      this.recentSince = now;
    }
    return this.recent.get(id) ?? this.older.get(id);
  }

  /** Puts `row`, written at `startedMs` (performance.now()), in the cache unless a newer one is there. */
  private async writeThrough(row: UserRow, startedMs: number): Promise<void> {
    const key = row.username.toLowerCase();
    this.flights.forget(key);
    if (this.cache === null) return;
    // A later write's tombstone lives tombstoneMs: past half of it, it may be
    // gone, and this row could replace a newer one. A tombstone is always safe.
    if (performance.now() - startedMs > this.options.tombstoneMs / 2) {
      await this.invalidate(row.username);
      return;
    }
    const ttl = this.options.ttlMs * (0.9 + Math.random() * 0.2);
    try {
      await this.cache.eval(WRITE_THROUGH, cacheKey(key), [
        row.version,
        encode(row),
        Math.max(1, Math.round(ttl)),
      ]);
    } catch {
      await this.remember(key);
      return;
    }
    this.written(key);
  }

  private async lookup(key: string, username: string, deadline: Deadline): Promise<UserRow | null> {
    if (this.cache === null) return this.readStore(username);
    // Changed here while Redis missed its invalidation: the entry may be the old
    // row until recovered() has written the tombstone (the first reads after an
    // outage ran before it, and showed a nickname changed a second earlier).
    if (
      (this.pending.size > 0 && this.pending.has(key)) ||
      (this.held.size > 0 && this.held.has(key, Date.now()))
    ) {
      return this.bypass.run(deadline, () => this.readStore(username), refuseBypass);
    }
    let cached: Uint8Array | null;
    try {
      cached = await this.cache.get(cacheKey(key));
    } catch (err) {
      return this.readBypassingCache(username, deadline, err);
    }
    if (cached !== null && cached[0] !== 0) {
      this.counts.hits++;
      return decode(cached);
    }
    if (cached !== null && cached.length === 1) {
      this.counts.hits++;
      return null;
    }
    this.counts.misses++;
    const row = await this.readStore(username);
    if (cached === null) {
      // Not awaited: the answer does not depend on it, and a failure only means a later miss.
      const value = row === null ? NO_SUCH_USER : encode(row);
      const ttl =
        row === null
          ? this.options.negativeTtlMs
          : this.options.ttlMs * (0.9 + Math.random() * 0.2);
      this.cache.set(cacheKey(key), value, ttl, true).catch(() => {});
    }
    return row;
  }

  private readStore(username: string): Promise<UserRow | null> {
    this.counts.storeReads++;
    return this.store.findByUsername(username);
  }

  private async readBypassingCache(
    username: string,
    deadline: Deadline,
    cause: unknown,
  ): Promise<UserRow | null> {
    this.counts.bypassed++;
    if (!this.degraded) {
      this.degraded = true;
      this.log.warn(
        // The reason, not the driver's stack: an outage is expected, not a bug.
        { reason: String(((cause as Error).cause as Error | undefined)?.message ?? cause) },
        'cache unreachable: reading users from the store behind the bypass cap',
      );
    }
    return this.bypass.run(deadline, () => this.readStore(username), refuseBypass);
  }

  /**
   * An invalidation Redis did not take: written here when Redis recovers,
   * and kept in the store for whichever server reaches Redis first. Every
   * time, even for a user pending here already: another server may have
   * written and deleted the store's repair since (an outage of this server's
   * Redis alone), and this change would then be kept nowhere but here.
   */
  private async remember(key: string): Promise<void> {
    if (this.pending.size >= (this.options.maxPendingInvalidations ?? 100_000)) {
      this.log.warn(
        { dropped: this.pending.size },
        'too many invalidations pending here: the store keeps them for the next recovery',
      );
      this.pending.clear();
    }
    this.pending.add(key);
    // Until then, an entry cached before the change may still be served: the
    // longest a cached row lives (ttlMs and its jitter).
    const expiresAtMs = Date.now() + Math.ceil(this.options.ttlMs * 1.1);
    try {
      await this.store.addCacheRepair({ kind: 'user', item: key, expiresAtMs });
    } catch (err) {
      this.log.error(
        { err },
        'an invalidation Redis did not take could not be kept in the store either: other TCP servers may serve the old row until its TTL',
      );
    }
  }

  private recovered(): void {
    this.degraded = false;
    const keys = [...this.pending];
    this.pending.clear();
    this.log.info({ invalidations: keys.length }, 'cache back: using it again');
    for (const key of keys) {
      this.cache
        ?.set(cacheKey(key), TOMBSTONE, this.options.tombstoneMs)
        .catch(() => this.remember(key));
    }
  }
}

function cacheKey(lowercaseUsername: string): string {
  return `u:${lowercaseUsername}`;
}

export function refuseBypass(why: Refusal): never {
  if (why === 'cancelled') throw RpcError.cancelled();
  throw new RpcError(Status.UNAVAILABLE, 'the service is degraded, try again in a moment', {
    retryAfterS: 1,
    cause: `cache bypass ${why}`,
  });
}
