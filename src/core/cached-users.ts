/**
 * Users by username, read through the cache. Invariants:
 * - concurrent lookups of one username share one cache read and at most one
 *   store read (single flight), with or without a cache;
 * - every write to a user is followed by invalidate(username), which replaces
 *   the cache entry with a short tombstone and forgets the in-process flight:
 *   a lookup after the write never joins a flight begun before it, and a
 *   lookup that read the store before the write cannot put the old row back
 *   (entries are only ever added with SET NX, which a tombstone blocks);
 * - cache values are UserRecord protobuf; the markers start with 0x00, which
 *   no protobuf message does: [0] = "no such user" (short TTL), [0, 1] = tombstone;
 * - when the cache is unreachable, lookups go to the store behind a shared
 *   concurrency cap (`bypass`), and a refusal is UNAVAILABLE, not a pile-up;
 *   invalidations that could not be written are written when it recovers.
 */

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Cache } from '../cache/port.ts';
import { type UserRecord, UserRecordSchema } from '../gen/usermgr/v1/record_pb.ts';
import type { Deadline } from '../lib/deadline.ts';
import type { Refusal, Semaphore } from '../lib/semaphore.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

export interface CachedUsersOptions {
  ttlMs: number;
  negativeTtlMs: number;
  /** Longer than any store read can take. */
  tombstoneMs: number;
  /** Most invalidations remembered during an outage; beyond it, they are dropped with a warning. */
  maxPendingInvalidations?: number;
}

const NO_SUCH_USER = new Uint8Array([0]);
const TOMBSTONE = new Uint8Array([0, 1]);
const readOptions = { readUnknownFields: false } as const;

export class CachedUsers {
  readonly counts = { hits: 0, misses: 0, storeReads: 0, bypassed: 0 };
  private readonly flights = new SingleFlight<UserRow | null>();
  private readonly pending = new Set<string>();
  private degraded = false;

  constructor(
    private readonly store: UserStore,
    private readonly cache: Cache | null,
    private readonly bypass: Semaphore,
    private readonly options: CachedUsersOptions,
    private readonly log: Logger,
  ) {
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
      this.remember(key);
    }
  }

  private async lookup(key: string, username: string, deadline: Deadline): Promise<UserRow | null> {
    if (this.cache === null) return this.readStore(username);
    let cached: Uint8Array | null;
    try {
      cached = await this.cache.get(cacheKey(key));
    } catch (err) {
      return this.readBypassingCache(username, deadline, err);
    }
    if (cached !== null && cached[0] !== 0) {
      this.counts.hits++;
      return fromRecord(fromBinary(UserRecordSchema, cached, readOptions));
    }
    if (cached !== null && cached.length === 1) {
      this.counts.hits++;
      return null;
    }
    this.counts.misses++;
    const row = await this.readStore(username);
    if (cached === null) {
      // Not awaited: the answer does not depend on it, and a failure only means a later miss.
      const value = row === null ? NO_SUCH_USER : toBinary(UserRecordSchema, toRecord(row));
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
        { err: (cause as Error).cause ?? cause },
        'cache unreachable: reading users from the store behind the bypass cap',
      );
    }
    return this.bypass.run(deadline, () => this.readStore(username), refuseBypass);
  }

  private remember(key: string): void {
    if (this.pending.size >= (this.options.maxPendingInvalidations ?? 100_000)) {
      this.log.warn(
        { dropped: this.pending.size },
        'too many invalidations pending: entries may stay stale until their TTL',
      );
      this.pending.clear();
    }
    this.pending.add(key);
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

function toRecord(row: UserRow): UserRecord {
  return create(UserRecordSchema, {
    ...row,
    sessionsValidAfterMs: BigInt(row.sessionsValidAfterMs),
    createdAtMs: BigInt(row.createdAtMs),
    updatedAtMs: BigInt(row.updatedAtMs),
  });
}

function fromRecord(record: UserRecord): UserRow {
  return {
    id: record.id,
    username: record.username,
    nickname: record.nickname,
    passwordHash: record.passwordHash,
    picture: record.picture,
    sessionsValidAfterMs: Number(record.sessionsValidAfterMs),
    createdAtMs: Number(record.createdAtMs),
    updatedAtMs: Number(record.updatedAtMs),
    totpSecret: record.totpSecret,
  };
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
