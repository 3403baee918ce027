/**
 * Semaphore with a bounded, deadline-aware wait queue: the guard in front of
 * every scarce resource (argon2 threads, database connections, the store
 * when the cache is down). Invariants:
 * - at most `permits` holders at once, at most `maxWaiting` waiters;
 * - acquire() never waits past its deadline and never queues beyond the
 *   bound: it returns 'busy' or 'timeout' instead (values, not exceptions:
 *   overload is expected and the caller decides the status);
 * - every successful acquire() is paired with exactly one release().
 */
export type Acquired = 'acquired' | 'busy' | 'timeout';

interface Waiter {
  resolve: (result: Acquired) => void;
  timer: Timer | null;
}

export class Semaphore {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly permits: number,
    readonly maxWaiting: number,
  ) {}

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits for a permit until `deadline` (a performance.now() instant). */
  acquire(deadline: number): Promise<Acquired> | Acquired {
    if (this.inUse < this.permits && this.waiters.length === 0) {
      this.inUse++;
      return 'acquired';
    }
    if (this.waiters.length >= this.maxWaiting) return 'busy';
    const wait = deadline - performance.now();
    if (wait <= 0) return 'timeout';
    return new Promise<Acquired>((resolve) => {
      const waiter: Waiter = { resolve, timer: null };
      waiter.timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve('timeout');
      }, wait);
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next === undefined) {
      this.inUse--;
      return;
    }
    if (next.timer) clearTimeout(next.timer);
    next.resolve('acquired'); // The permit passes straight to the next waiter.
  }

  /** Runs `task` holding a permit; `onRefused` decides what a refusal throws. */
  async run<T>(
    deadline: number,
    task: () => Promise<T>,
    onRefused: (why: 'busy' | 'timeout') => never,
  ): Promise<T> {
    const acquired = await this.acquire(deadline);
    if (acquired !== 'acquired') onRefused(acquired);
    try {
      return await task();
    } finally {
      this.release();
    }
  }
}
