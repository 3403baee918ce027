/**
 * Cache writes Redis did not take, written by whichever TCP server reaches
 * Redis first. A logout's mirror entry or a user's invalidation that failed
 * is kept twice: in the memory of the server that took the change (replayed
 * when its Redis recovers, and trusted by its own checks meanwhile), and in
 * the store's `cache_repairs` before the change is answered. This runner
 * reads the store's list every few seconds, and at once when Redis recovers,
 * writes each to Redis and deletes it.
 *
 * Why: the memory alone was lost when its server stopped before Redis
 * answered again. A logout taken while Redis was stalled then never reached
 * the mirror, whose sentinel still said "complete", and the token worked on
 * every server for the rest of its life; a renamed user's old row was served
 * until its TTL (a reliability audit). Now, after a 200, the change reaches
 * Redis within INTERVAL_MS of Redis answering any server.
 *
 * Invariants:
 * - a repair is deleted only after Redis took its write, and only as listed
 *   (a newer failure of the same item has a later expiry and stays);
 * - writes are idempotent (a mirror entry, a tombstone), so servers that
 *   race over one repair do no harm;
 * - while Redis is healthy the list is empty: a run is one small read.
 */
import type { Cache } from '../cache/port.ts';
import type { Logger } from '../log.ts';
import type { CacheRepair, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { CachedUsers } from './cached-users.ts';
import type { Revocations } from './revocations.ts';

/** How often the store's list is read while Redis answers. */
const INTERVAL_MS = 2000;
/** Repairs read and written per run; a longer list takes more runs. */
const BATCH = 1000;
/** Pages of repairs held (unwritten) per run while Redis refuses them. */
const HELD_PAGES = 100;
/** The longest revocation checks wait for the repairs after a start or a recovery. */
const GATE_MS = 1000;

export class CacheRepairs {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<number> | null = null;
  /** The list could not be read at the last run: warned once, until it can again. */
  private unreadable = false;
  /** Redis did not take the last run's writes (held here meanwhile). */
  private refused = false;
  /** Redis refused them with a reply of its own: warned once, until it takes them again. */
  private warned = false;

  constructor(
    private readonly store: UserStore,
    cache: Cache,
    private readonly revocations: Revocations,
    private readonly users: CachedUsers,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    cache.onRecover(() => this.runBeforeChecks());
  }

  /** Runs now, then every INTERVAL_MS until stop(). */
  start(intervalMs = INTERVAL_MS): void {
    this.runBeforeChecks();
    this.timer = setInterval(() => void this.run(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * A run that revocation checks wait for (at most GATE_MS): after a start or
   * a recovery, Redis may lack a logout another server took meanwhile, and a
   * check must not trust its "not revoked" until the repairs are written (a
   * second attack pass saw a restarted server accept a logged-out token for
   * 0.7 s after Redis came back).
   */
  private runBeforeChecks(): void {
    const gate = Promise.race([this.run(), Bun.sleep(GATE_MS)]).then(
      () => {},
      () => {},
    );
    this.revocations.repairing = gate;
    void gate.then(() => {
      if (this.revocations.repairing === gate) this.revocations.repairing = null;
    });
  }

  /** Writes what the store's list holds (one run at a time); how many were written. */
  run(): Promise<number> {
    this.running ??= this.repair().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async repair(): Promise<number> {
    const now = this.now();
    // Held while Redis refused: those whose sessions have expired matter no more.
    if (this.refused) this.revocations.forgetExpiredHolds(now);
    let repairs: CacheRepair[];
    try {
      repairs = await this.store.listCacheRepairs(now, BATCH);
    } catch (err) {
      // The store is away (the next run reads again), or something is wrong that a
      // person must fix (no table, no grant): once, not every 2 s.
      if (!this.unreadable && RpcError.from(err).code !== Status.UNAVAILABLE) {
        this.log.warn({ err }, 'cannot read the cache repairs kept in the store');
      }
      this.unreadable = true;
      return 0;
    }
    this.unreadable = false;
    if (repairs.length === 0) {
      this.refusedUntil(0, null, 0);
      return 0;
    }
    const written: CacheRepair[] = [];
    let refusal: unknown = null;
    await Promise.all(
      repairs.map(async (repair) => {
        try {
          // Either holds the item in this process while Redis does not take it.
          if (repair.kind === 'session') {
            await this.revocations.repairMirror(repair.item, repair.expiresAtMs, now);
          } else {
            await this.users.repairEntry(repair.item, repair.expiresAtMs);
          }
          written.push(repair);
        } catch (err) {
          // Redis did not take it: it stays listed for the next run.
          refusal ??= err;
        }
      }),
    );
    const held = refusal === null ? 0 : await this.holdTheRest(repairs, now);
    this.refusedUntil(repairs.length - written.length + held, refusal, written.length);
    if (written.length === 0) return 0;
    try {
      await this.store.removeCacheRepairs(written);
    } catch {
      // Written to Redis all the same; the next run writes them again, harmlessly.
    }
    this.log.info(
      { written: written.length, left: repairs.length - written.length + held },
      'wrote cache changes Redis had missed (kept in the store)',
    );
    return written.length;
  }

  /**
   * Redis refused this run's writes: the repairs past its first page are held in this
   * process too, unwritten (each would be refused alike), up to HELD_PAGES pages. A
   * run reads one page, so those past a thousand went unheld by every other server
   * for as long as Redis refused (found in review). How many were held.
   */
  private async holdTheRest(first: CacheRepair[], now: number): Promise<number> {
    let page = first;
    let held = 0;
    for (let n = 1; n < HELD_PAGES && page.length === BATCH; n++) {
      try {
        page = await this.store.listCacheRepairs(now, BATCH, page.at(-1));
      } catch {
        return held; // the next run reads again
      }
      for (const repair of page) {
        if (repair.kind === 'session')
          this.revocations.holdUnwritten(repair.item, repair.expiresAtMs, now);
        else this.users.holdUnwritten(repair.item, repair.expiresAtMs);
      }
      held += page.length;
    }
    return held;
  }

  /**
   * Warns once when Redis refuses the repairs' writes, with its reason (it may answer
   * reads all the while: full under `noeviction`, a read-only replica), and says when
   * it takes them again. Nothing was logged while logouts and renames reached no Redis
   * for minutes (a failure audit).
   */
  private refusedUntil(left: number, refusal: unknown, written: number): void {
    // Only a refusal in Redis's own words: one that is unreachable was said already
    // ("cache unreachable"), and its client's words ("Stream isn't writeable") named
    // a refusal that was not one (a failure audit's second pass).
    const reply = replyOf(refusal);
    if (left > 0 && !this.warned && reply !== null) {
      this.log.warn(
        { left, reason: reply.message },
        'Redis does not take the cache changes kept in the store: each TCP server holds them in its own checks and retries every few seconds',
      );
      this.warned = true;
    } else if (left === 0 && this.warned) {
      this.log.info(
        written > 0
          ? 'Redis takes the cache changes kept in the store again'
          : 'the cache changes Redis refused have expired: none is held any more',
      );
      this.warned = false;
    }
    this.refused = left > 0;
  }
}

/** The error reply of Redis behind a failed write (OOM, READONLY, NOREPLICAS, NOAUTH…); null for anything else. */
function replyOf(failure: unknown): Error | null {
  const cause = failure instanceof RpcError ? failure.cause : failure;
  return cause instanceof Error && cause.name === 'ReplyError' ? cause : null;
}
