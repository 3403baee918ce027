/**
 * Load for the fault tests, generated in the test process against 127.0.0.1.
 *
 * - startLoad(): open loop. Request i starts at t0 + i / rate whatever the
 *   answers do, so a server that stalls is not given a break by the load
 *   slowing down; each request has a client timeout, so the run is bounded.
 * - startStorm(): closed loop. N workers, each sending its next request as
 *   soon as the last is answered, for a fixed time.
 *
 * Every request leaves a Sample: when it started, how long it took, and its
 * outcome class. Latency is measured from the moment the request was sent.
 * Times are absolute (now()), so that samples taken in another process line
 * up with the moments the test injected its faults.
 */

/**
 * Milliseconds since the epoch, comparable across processes: the system clock
 * itself, read by each process. (performance.timeOrigin + performance.now()
 * is not: it is the wall clock at the process's start plus a monotonic clock.
 * At the end of a full `npm test` run, minutes into the test process, every
 * sample of a newly started generator fell after the moments the test had
 * marked seconds later: a window before a signal held no sample at all.)
 * Durations use performance.now().
 */
export function now(): number {
  return Date.now();
}

export type Outcome =
  | '2xx'
  | '4xx'
  | '429'
  | '503'
  | '5xx'
  /** The connection was refused: no server was listening, so it never got the request. */
  | 'refused'
  /** Any other socket failure (reset, closed mid-response). */
  | 'socket'
  /** No answer within the client timeout: the request hung. */
  | 'timeout'
  /** Too many requests in flight in the generator: the server is not answering. */
  | 'overflow';

export const OUTCOMES: readonly Outcome[] = [
  '2xx',
  '4xx',
  '429',
  '503',
  '5xx',
  'refused',
  'socket',
  'timeout',
  'overflow',
];

export interface Sample {
  kind: string;
  /** now() when the request was sent. */
  start: number;
  ms: number;
  outcome: Outcome;
  /** HTTP status, or 0 when there was none. */
  status: number;
}

export interface Shot {
  kind: string;
  url: string;
  init?: RequestInit;
}

function outcomeOf(status: number): Outcome {
  if (status >= 200 && status < 300) return '2xx';
  if (status === 429) return '429';
  if (status === 503) return '503';
  if (status >= 500) return '5xx';
  return '4xx';
}

function errorOutcome(error: unknown): Outcome {
  const { name, code } = (error ?? {}) as { name?: string; code?: string };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  if (code === 'ConnectionRefused' || code === 'ECONNREFUSED') return 'refused';
  return 'socket';
}

/** Sends one request and records it; never rejects. */
async function shoot(shot: Shot, timeoutMs: number): Promise<Sample> {
  const start = now();
  const sent = performance.now();
  try {
    const res = await fetch(shot.url, { ...shot.init, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return {
      kind: shot.kind,
      start,
      ms: performance.now() - sent,
      outcome: outcomeOf(res.status),
      status: res.status,
    };
  } catch (error) {
    return {
      kind: shot.kind,
      start,
      ms: performance.now() - sent,
      outcome: errorOutcome(error),
      status: 0,
    };
  }
}

export interface LoadOptions {
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Client timeout of one request. */
  timeoutMs: number;
  /** The i-th request. */
  next(i: number): Shot;
  /** Beyond this many unanswered requests, new ones are recorded as 'overflow' and not sent. */
  maxInFlight?: number;
}

export interface Load {
  readonly samples: Sample[];
  /** Resolves when every request has been answered or has timed out. */
  readonly done: Promise<Sample[]>;
  /** Starts no more requests; `done` resolves once those in flight settle. */
  stop(): void;
}

export function startLoad(options: LoadOptions): Load {
  const samples: Sample[] = [];
  const t0 = performance.now();
  let total = Math.round((options.rate * options.durationMs) / 1000);
  const maxInFlight = options.maxInFlight ?? Math.max(1000, options.rate * 2);
  let launched = 0;
  let inFlight = 0;
  let settle = (_: Sample[]) => {};
  const done = new Promise<Sample[]>((resolve) => {
    settle = resolve;
  });
  const finishIfDone = () => {
    if (launched === total && inFlight === 0) {
      clearInterval(ticker);
      settle(samples);
    }
  };
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * options.rate) / 1000));
    while (launched < due) {
      const shot = options.next(launched++);
      if (inFlight >= maxInFlight) {
        samples.push({
          kind: shot.kind,
          start: now(),
          ms: 0,
          outcome: 'overflow',
          status: 0,
        });
        continue;
      }
      inFlight++;
      shoot(shot, options.timeoutMs).then((sample) => {
        samples.push(sample);
        inFlight--;
        finishIfDone();
      });
    }
    finishIfDone();
  };
  const ticker = setInterval(tick, 1);
  return {
    samples,
    done,
    stop() {
      total = launched;
      finishIfDone();
    },
  };
}

export interface StormOptions {
  workers: number;
  durationMs: number;
  timeoutMs: number;
  next(i: number): Shot;
  /**
   * A worker answered 429 waits about this long (0.5x to 1.5x, at random)
   * before its next request, as a client honouring Retry-After with jitter.
   */
  pauseOn429Ms: number;
}

/** N workers in a closed loop for `durationMs`. */
export async function startStorm(options: StormOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = performance.now() + options.durationMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: options.workers }, async () => {
      while (performance.now() < until) {
        const sample = await shoot(options.next(n++), options.timeoutMs);
        samples.push(sample);
        if (sample.outcome === '429') await Bun.sleep(options.pauseOn429Ms * (0.5 + Math.random()));
      }
    }),
  );
  return samples;
}
