/**
 * Which of a stream of like events to log, so that a flood cannot bury the
 * log: per key, the first `burst` events of a window of `everyMs` pass, the
 * rest are held back and counted. The count goes out with the first event to
 * pass after them, or, when none comes, to `report` once their window has
 * ended: a flood that stops is still counted in full. Keys are a fixed few
 * (the handshake's refusal reasons, the admin API's one count): a key per
 * client would let a flood from many addresses grow the map, and push
 * another client's events out of the count.
 */
interface Window {
  start: number;
  passed: number;
  heldBack: number;
  /** A report of the count is due at the end of the window. */
  reportDue: boolean;
}

export class Sampler {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly everyMs: number,
    private readonly burst = 1,
    private readonly report: (key: string, heldBack: number) => void = () => {},
  ) {}

  /** How many were held back before this one when it passes; null when it is held back too. */
  pass(key: string, now = performance.now()): number | null {
    let window = this.windows.get(key);
    if (window === undefined) {
      window = { start: now, passed: 0, heldBack: 0, reportDue: false };
      this.windows.set(key, window);
    }
    if (now - window.start >= this.everyMs) {
      window.start = now;
      window.passed = 0;
    }
    if (window.passed >= this.burst) {
      window.heldBack++;
      if (!window.reportDue) this.reportLater(key, window, window.start + this.everyMs - now);
      return null;
    }
    window.passed++;
    const heldBack = window.heldBack;
    window.heldBack = 0;
    return heldBack;
  }

  private reportLater(key: string, window: Window, delayMs: number): void {
    window.reportDue = true;
    const timer = setTimeout(
      () => {
        window.reportDue = false;
        if (window.heldBack === 0) return; // an event that passed took the count
        const heldBack = window.heldBack;
        window.heldBack = 0;
        this.report(key, heldBack);
      },
      Math.max(0, delayMs),
    );
    timer.unref();
  }
}
