/**
 * Snowflake ids: 41 bits of milliseconds since 2025-01-01, 10 bits of worker
 * id, 12 bits of sequence, as a decimal string (beyond 2^53, so never a JS
 * number). Unique across TCP servers as long as each has its own WORKER_ID.
 * Invariant: ids from one generator strictly increase, even if the wall
 * clock steps back (time is taken as the maximum seen).
 */
const EPOCH_MS = Date.UTC(2025, 0, 1);
const MAX_SEQUENCE = 0xfff;

export class IdGenerator {
  private lastMs = 0;
  private sequence = 0;
  private readonly worker: bigint;

  constructor(
    workerId: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > 1023) {
      throw new RangeError(`worker id ${workerId} is not in 0..1023`);
    }
    this.worker = BigInt(workerId);
  }

  next(): string {
    let ms = Math.max(this.now(), this.lastMs);
    if (ms === this.lastMs) {
      this.sequence = (this.sequence + 1) & MAX_SEQUENCE;
      // 4096 ids in one millisecond: borrow the next one.
      if (this.sequence === 0) ms = this.lastMs + 1;
    } else {
      this.sequence = 0;
    }
    this.lastMs = ms;
    return (
      (BigInt(ms - EPOCH_MS) << 22n) |
      (this.worker << 12n) |
      BigInt(this.sequence)
    ).toString();
  }
}
