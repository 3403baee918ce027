/**
 * Semaphore with a bounded, deadline-aware wait queue: the guard in front of
 * every scarce resource (argon2 threads, database connections, the store
 * when the cache is down). Invariants:
 * - at most `permits` holders at once, at most `maxWaiting` waiters;
 * - acquire() never waits past its deadline and never queues beyond the
 *   bound: it returns 'busy' or 'timeout' instead (values, not exceptions:
 *   overload is expected and the caller decides the status);
 * - a waiter whose deadline is cancelled (its caller is gone) leaves the
 *   queue at once with 'cancelled', and one already cancelled never queues:
 *   the queue holds only work somebody still waits for;
 * - every successful acquire() is paired with exactly one release().
 */
import type { Deadline } from './deadline.ts';

export type Acquired = 'acquired' | 'busy' | 'timeout' | 'cancelled';

/** Why acquire() gave no permit. */
export type Refusal = Exclude<Acquired, 'acquired'>;

interface Waiter {
  settle: (result: Acquired) => void;
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

  /** Waits for a permit until `deadline` passes or is cancelled. */
  acquire(deadline: Deadline): Promise<Acquired> | Acquired {
    if (deadline.cancelled) return 'cancelled';
    if (this.inUse < this.permits && this.waiters.length === 0) {
      this.inUse++;
      return 'acquired';
    }
    if (this.waiters.length >= this.maxWaiting) return 'busy';
    const wait = deadline.remainingMs();
    if (wait <= 0) return 'timeout';
    return new Promise<Acquired>((resolve) => {
      const signal = deadline.signal;
      const leave = (result: Acquired) => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        waiter.settle(result);
      };
      const onAbort = () => leave('cancelled');
      const timer = setTimeout(() => leave('timeout'), wait);
      const waiter: Waiter = {
        settle: (result) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(result);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next === undefined) {
      this.inUse--;
      return;
    }
    next.settle('acquired'); // The permit passes straight to the next waiter.
  }

  /** Runs `task` holding a permit; `onRefused` decides what a refusal throws. */
  async run<T>(
    deadline: Deadline,
    task: () => Promise<T>,
    onRefused: (why: Refusal) => never,
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
