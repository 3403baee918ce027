/**
 * Deadlines and timeouts.
 *
 * A Deadline is the instant after which nobody waits for an answer, together
 * with the caller's cancellation (the caller is gone before that instant).
 * Invariants:
 * - `at` is on one clock only, performance.now() of this process (monotonic):
 *   wall-clock values (Date.now(), stored timestamps) are plain numbers named
 *   `...Ms` and are never compared with a Deadline;
 * - a Deadline crosses a process boundary only as milliseconds remaining
 *   (`remainingMs()`), so the clocks of two machines never need to agree;
 * - cancellation happens at most once and is never undone; its AbortSignal
 *   is made on first use, so the calls nobody cancels and nobody queues
 *   (the hot path) cost one small object and no AbortController.
 */
export class Deadline {
  private controller: AbortController | null = null;
  private abortedSignal: AbortSignal | null;

  private constructor(
    /** The performance.now() instant after which nobody waits. */
    readonly at: number,
    /** The caller's own signal, when the cancellation comes from outside. */
    private readonly source: AbortSignal | null,
  ) {
    this.abortedSignal = null;
  }

  /**
   * `ms` milliseconds from now. With `signal`, the deadline is cancelled
   * when it aborts (and cancel() is not for this deadline's holder to call).
   */
  static after(ms: number, signal?: AbortSignal): Deadline {
    return new Deadline(performance.now() + ms, signal ?? null);
  }

  /** Milliseconds left; zero or less once passed. */
  remainingMs(now = performance.now()): number {
    return this.at - now;
  }

  expired(now = performance.now()): boolean {
    return this.at <= now;
  }

  /** True once the caller is gone: the answer would reach nobody. */
  get cancelled(): boolean {
    if (this.source !== null) return this.source.aborted;
    return this.abortedSignal !== null || (this.controller?.signal.aborted ?? false);
  }

  /** Aborts when the deadline is cancelled (not when it passes: the holder times that itself). */
  get signal(): AbortSignal {
    if (this.source !== null) return this.source;
    if (this.abortedSignal !== null) return this.abortedSignal;
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** The caller is gone: everything waiting on this deadline may stop. */
  cancel(): void {
    if (this.source !== null || this.cancelled) return;
    if (this.controller !== null) this.controller.abort();
    else this.abortedSignal = AbortSignal.abort();
  }
}

/**
 * `work`, or what `onTimeout` returns (or throws) when `work` has not settled
 * within `ms`. The timer is cleared either way; the work itself is not
 * stopped, so give it a signal or a timer of its own when it holds anything.
 */
export async function withTimeout<T, U>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => U,
): Promise<T | U> {
  let timer: Timer | undefined;
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The deadline of work that several callers share (a single flight): it
 * passes when the first caller's does, and is cancelled only once every
 * caller that joined is gone, so that one caller hanging up does not fail
 * the others. A caller joining after that gets nothing from it: check
 * `deadline.cancelled` and start the work anew.
 */
export class SharedDeadline {
  readonly deadline: Deadline;
  private callers = 0;

  constructor(first: Deadline) {
    this.deadline = Deadline.after(first.remainingMs());
    this.join(first);
  }

  join(caller: Deadline): void {
    this.callers++;
    const leave = () => {
      if (--this.callers === 0) this.deadline.cancel();
    };
    if (caller.cancelled) leave();
    else caller.signal.addEventListener('abort', leave, { once: true });
  }
}
