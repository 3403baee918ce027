/**
 * The throttle counts kept in this process: without Redis, and while Redis
 * cannot be reached. It runs the same rules as the Lua scripts
 * (rate-limits-rules.ts) on values of the same form. Invariants:
 * - bounded: at most `maxEntries` keys. When full, it drops expired entries
 *   first, then the oldest entries that throttle no one, and only then the
 *   oldest of the rest, so that a spray of new usernames or addresses cannot
 *   reset the count of an account or address that is being throttled;
 * - Map order is the order of the last write: the oldest entry is first.
 */
import type { Rule } from './rate-limits-rules.ts';

interface Entry {
  value: string;
  expiresAt: number;
  throttling: boolean;
}

export class LocalCounts {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Runs `rule` on `key` with ARGV `args` (args[0] is now), as the Lua script would. */
  eval(rule: Rule, key: string, args: readonly number[]): number[] {
    const now = args[0] ?? this.now();
    const entry = this.entries.get(key);
    const { reply, write } = rule.local(
      entry !== undefined && entry.expiresAt > now ? entry.value : undefined,
      args,
    );
    if (write === null) this.entries.delete(key);
    else if (write !== undefined) {
      this.entries.delete(key);
      if (this.entries.size >= this.maxEntries) this.evict();
      this.entries.set(key, {
        value: write.value,
        expiresAt: now + write.ttlMs,
        throttling: write.throttling,
      });
    }
    return reply;
  }

  /** Every live entry, oldest first, for carrying them over to Redis. */
  *live(): IterableIterator<[string, string]> {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt > now) yield [key, entry.value];
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Frees a tenth of the room at once, so that a full store does not scan on every write. */
  private evict(): void {
    const target = Math.floor(this.maxEntries * 0.9);
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    for (const pass of [false, true]) {
      for (const [key, entry] of this.entries) {
        if (this.entries.size <= target) return;
        if (pass || !entry.throttling) this.entries.delete(key);
      }
    }
  }
}
