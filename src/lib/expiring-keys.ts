/**
 * Keys held until an instant each: `has` answers true before it, and forgets a key
 * whose instant has passed; `set` forgets those at the front that have passed (Map
 * order is the order of setting; a key set again moves to the end). Bounded by `max`:
 * at it, the oldest key goes.
 */
export class ExpiringKeys {
  private readonly until = new Map<string, number>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.until.size;
  }

  has(key: string, nowMs: number): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.until.delete(key);
    return false;
  }

  set(key: string, untilMs: number, nowMs: number): void {
    this.until.delete(key);
    for (const [oldest, until] of this.until) {
      if (until > nowMs) break;
      this.until.delete(oldest);
    }
    if (this.until.size >= this.max) {
      const oldest = this.until.keys().next();
      if (!oldest.done) this.until.delete(oldest.value);
    }
    this.until.set(key, untilMs);
  }

  delete(key: string): void {
    this.until.delete(key);
  }
}
