/**
 * Which of a stream of like events to log, so that a flood cannot bury the
 * log: per key, the first `burst` events of a window of `everyMs` pass, the
 * rest are held back and counted, and the first to pass after them carries
 * that count. Keys are bounded (`maxKeys`): past the bound, keys whose window
 * has ended are dropped, at most once a window (a sweep reads every key), with
 * what they held back (a flood from many keys must not keep the map full for
 * good); a new key shares one overflow key meanwhile.
 */
interface Window {
  start: number;
  passed: number;
  heldBack: number;
}

/** The key events share once `maxKeys` keys are in their windows. */
const OVERFLOW = '\0overflow';

export class Sampler {
  private readonly windows = new Map<string, Window>();
  private sweptAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly everyMs: number,
    private readonly burst = 1,
    private readonly maxKeys = 10_000,
  ) {}

  /** How many were held back before this one when it passes; null when it is held back too. */
  pass(key: string, now = performance.now()): number | null {
    const window = this.windowOf(key, now);
    if (now - window.start >= this.everyMs) {
      window.start = now;
      window.passed = 0;
    }
    if (window.passed >= this.burst) {
      window.heldBack++;
      return null;
    }
    window.passed++;
    const heldBack = window.heldBack;
    window.heldBack = 0;
    return heldBack;
  }

  private windowOf(key: string, now: number): Window {
    let window = this.windows.get(key);
    if (window !== undefined) return window;
    if (this.windows.size >= this.maxKeys && now - this.sweptAt >= this.everyMs) {
      this.sweptAt = now;
      for (const [k, w] of this.windows) if (now - w.start >= this.everyMs) this.windows.delete(k);
    }
    const at = this.windows.size >= this.maxKeys ? OVERFLOW : key;
    window = this.windows.get(at) ?? { start: now, passed: 0, heldBack: 0 };
    this.windows.set(at, window);
    return window;
  }
}
