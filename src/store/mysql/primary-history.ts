/**
 * What the primary had committed, and when: the GTID positions read from the
 * primary by the replica checks, each with the last instant it was seen
 * current. This is how a replica's lag is measured without trusting
 * `Seconds_Behind_Master` (0 while the IO thread is behind, NULL while the SQL
 * thread is stopped, and only readable with a monitoring privilege) or any
 * clock but this process's own.
 *
 * Invariants:
 * - a sample's instant is taken before its query was sent, so the position
 *   read holds every transaction committed before that instant;
 * - a replica whose applied position reaches a sample therefore holds every
 *   commit made before the sample's instant: it is fresh as of then;
 * - positions only grow, so the newest sample a replica reaches is the one
 *   that says most; samples older than the horizon are dropped (the newest
 *   one always stays), and a replica that reaches none of those kept is
 *   "older than the horizon" (-Infinity), which is all a lag bound needs;
 * - at most `maxSamples` are kept, the oldest dropped first: a replica behind
 *   all of them then counts as too old, which errs toward the primary.
 */
import { type GtidPosition, hasReached, samePosition } from './gtid.ts';

interface Sample {
  position: GtidPosition;
  /** performance.now() of the last check that found the primary at this position. */
  seenAt: number;
}

export class PrimaryHistory {
  private readonly samples: Sample[] = [];

  /** `horizonMs`: how far back lag is measured; at least the lag bound. */
  constructor(
    readonly horizonMs: number,
    private readonly maxSamples = 10_000,
  ) {}

  /** The primary's position, read by a query sent at `sentAt`. */
  observe(position: GtidPosition, sentAt: number): void {
    const last = this.samples.at(-1);
    // An idle primary stays at one position: it is current as of every check.
    if (last !== undefined && samePosition(last.position, position)) last.seenAt = sentAt;
    else this.samples.push({ position, seenAt: sentAt });
    // A replica that reaches nothing newer than a sample past the horizon is
    // past the horizon itself, which -Infinity says as well.
    while (
      this.samples.length > 1 &&
      ((this.samples[0] as Sample).seenAt < sentAt - this.horizonMs ||
        this.samples.length > this.maxSamples)
    ) {
      this.samples.shift();
    }
  }

  /** The instant as of which a replica that applied `applied` holds every commit; -Infinity if none is known. */
  freshAsOf(applied: GtidPosition): number {
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const sample = this.samples[i] as Sample;
      if (hasReached(applied, sample.position)) return sample.seenAt;
    }
    return Number.NEGATIVE_INFINITY;
  }

  /** Samples kept (for tests). */
  get size(): number {
    return this.samples.length;
  }
}
