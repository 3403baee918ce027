/**
 * The revoked-session list (logout). Invariants:
 * - the store is the source of truth: a logout is answered only after the
 *   store has it;
 * - the cache mirrors it for the per-request check: `rv:<session id>` with a
 *   TTL equal to the token's remaining life, and a sentinel `rv:loaded`
 *   written after a full load from the store;
 * - Redis keeps nothing on disk, so a missing sentinel means the mirror was
 *   lost (restart, flush): the mirror is reloaded from the store (one load at
 *   a time) before a Redis "not revoked" is trusted again, and the checks that
 *   found it missing wait for that load, within their deadline, and answer
 *   from the list it read (with the revocations this process could not
 *   mirror). They do not each ask the store: under load that many reads at
 *   once overflowed the bypass cap and answered 503 while the load ran. A
 *   revocation the list misses finished after the load began, and so wrote
 *   its entry before the check read the entry;
 * - the sentinel is read after the entry, never before it, and one read of
 *   it serves every check begun in the same turn of the event loop;
 * - concurrent checks of one session share one read of its entry; a revoke
 *   here drops that shared read once written, so a check made after a
 *   logout has returned never gets an answer read before it;
 * - when the cache is unreachable, the store answers behind the shared
 *   bypass cap; a refusal there is UNAVAILABLE (fail closed), never "valid";
 * - mirror writes that fail are replayed when the cache recovers.
 */

import type { Cache } from '../cache/port.ts';
import { type Deadline, withTimeout } from '../lib/deadline.ts';
import type { Semaphore } from '../lib/semaphore.ts';
import { SingleFlight } from '../lib/single-flight.ts';
import type { Logger } from '../log.ts';
import type { UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { refuseBypass } from './cached-users.ts';

const SENTINEL = 'rv:loaded';
const SENTINEL_TTL_MS = 30 * 86_400_000;
const REVOKED = '1';

export class Revocations {
  /** The load under way: the revoked session ids it read, or null if it failed. */
  private reloading: Promise<ReadonlySet<string> | null> | null = null;
  private sentinelRead: Promise<Uint8Array | null> | null = null;
  private readonly entryReads = new SingleFlight<Uint8Array | null>();
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly store: UserStore,
    private readonly cache: Cache | null,
    private readonly bypass: Semaphore,
    private readonly log: Logger,
  ) {
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
      await this.cache.set(key(sessionId), REVOKED, expiresAtMs - nowMs);
    } catch {
      this.pending.set(sessionId, expiresAtMs);
    } finally {
      // A check made from now on must not join a read begun before the write.
      this.entryReads.forget(sessionId);
    }
  }

  async isRevoked(sessionId: string, nowMs: number, deadline: Deadline): Promise<boolean> {
    if (this.cache === null) return this.store.isSessionRevoked(sessionId, nowMs);
    let loaded: Uint8Array | null;
    let entry: Uint8Array | null;
    try {
      // The entry first, the sentinel after it (see sentinelAfterEntries).
      const cache = this.cache;
      // Concurrent checks of one session share its read; revoke() forgets it.
      const entryRead = this.entryReads.run(sessionId, () => cache.get(key(sessionId)));
      [entry, loaded] = await Promise.all([entryRead, this.sentinelAfterEntries()]);
    } catch {
      return this.fromStore(sessionId, nowMs, deadline);
    }
    if (entry !== null) return true;
    if (loaded !== null) return false;
    const revoked = await this.untilReloaded(nowMs, deadline);
    if (revoked === null) return this.fromStore(sessionId, nowMs, deadline);
    return revoked.has(sessionId) || this.pending.has(sessionId);
  }

  /** Waits for the mirror's load (starting one if none is under way) until `deadline`. */
  private untilReloaded(nowMs: number, deadline: Deadline): Promise<ReadonlySet<string> | null> {
    return withTimeout(this.reload(nowMs), Math.max(0, deadline.remainingMs()), () => {
      throw stillLoading();
    });
  }

  /**
   * One read of the sentinel for all the checks that began in this turn of
   * the event loop (every request of a socket read starts in one), issued
   * after all their entry reads. The order matters: an entry read that finds
   * nothing because the mirror was lost must not be paired with a sentinel
   * read from before the loss; read after it, the sentinel is gone too.
   */
  private sentinelAfterEntries(): Promise<Uint8Array | null> {
    if (this.sentinelRead === null) {
      const cache = this.cache as Cache;
      this.sentinelRead = new Promise((resolve, reject) => {
        queueMicrotask(() => {
          this.sentinelRead = null;
          cache.get(SENTINEL).then(resolve, reject);
        });
      });
    }
    return this.sentinelRead;
  }

  private fromStore(sessionId: string, nowMs: number, deadline: Deadline): Promise<boolean> {
    return this.bypass.run(
      deadline,
      () => this.store.isSessionRevoked(sessionId, nowMs),
      refuseBypass,
    );
  }

  /**
   * Rebuilds the mirror from the store, then marks it loaded. One at a time.
   * Resolves to the session ids it found revoked, or null when it failed.
   */
  private reload(nowMs: number): Promise<ReadonlySet<string> | null> {
    if (this.reloading !== null) return this.reloading;
    const cache = this.cache as Cache;
    const load = (async () => {
      const revoked = await this.store.listRevokedSessions(nowMs);
      await Promise.all(
        revoked.map((r) => cache.set(key(r.sessionId), REVOKED, r.expiresAtMs - nowMs)),
      );
      await cache.set(SENTINEL, REVOKED, SENTINEL_TTL_MS);
      this.log.info({ sessions: revoked.length }, 'revoked-session mirror reloaded into the cache');
      return new Set(revoked.map((r) => r.sessionId));
    })()
      .catch((err) => {
        this.log.warn({ err }, 'could not reload the revoked-session mirror');
        return null;
      })
      .finally(() => {
        this.reloading = null;
      });
    this.reloading = load;
    return load;
  }

  private replay(): void {
    const now = Date.now();
    for (const [sessionId, expiresAtMs] of this.pending) {
      this.pending.delete(sessionId);
      if (expiresAtMs <= now) continue;
      this.cache?.set(key(sessionId), REVOKED, expiresAtMs - now).then(
        () => this.entryReads.forget(sessionId),
        () => this.pending.set(sessionId, expiresAtMs),
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

function key(sessionId: string): string {
  return `rv:${sessionId}`;
}
