/**
 * Which of a stream of like events to log, so that a flood cannot bury the
 * log: per key, the first `burst` events of a window of `everyMs` pass, the
 * rest are held back and counted, and the first to pass after them carries
 * that count. Keys are a fixed few (the handshake's refusal reasons, the
 * admin API's one count): a key per client would let a flood from many
 * addresses grow the map, and push another client's events out of the count.
 */
interface Window {
  start: number;
  passed: number;
  heldBack: number;
}

export class Sampler {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly everyMs: number,
    private readonly burst = 1,
  ) {}

  /** How many were held back before this one when it passes; null when it is held back too. */
  pass(key: string, now = performance.now()): number | null {
    let window = this.windows.get(key);
    if (window === undefined) {
      window = { start: now, passed: 0, heldBack: 0 };
      this.windows.set(key, window);
    }
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
}
