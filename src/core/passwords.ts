/**
 * Password hashing: argon2id PHC strings through Bun.password, run on a few
 * threads of our own at the lowest scheduling priority (hash-threads.ts), so
 * that slow hashes never starve the event loops of this server and its
 * neighbours: a storm of wrong passwords must not slow down everyone else's
 * cheap requests. Invariants:
 * - at most `concurrency` slow hashes run at once (sized to the cores: more
 *   would only share the same cores) and at most `maxWaiting` wait; beyond
 *   that a call fails at once with RESOURCE_EXHAUSTED instead of piling up;
 * - waiting hashes are queued by client (`Admission`: its address, an IPv6
 *   one by its /64, see client-key.ts) and served in turn, one client after
 *   another, known devices and session holders before strangers
 *   (fair-semaphore.ts): a few addresses offering more hashes than the
 *   threads can do fill their own queues, at most `maxWaitingPerClient`
 *   each, not everyone's, and a newcomer's first login waits about one turn;
 * - a waiting hash gives up at its caller's deadline (DEADLINE_EXCEEDED), and
 *   at once when its caller is gone (CANCELLED): a hash whose answer nobody
 *   reads is never started, and its place in the queue goes to the next one.
 *   A hash already running finishes (argon2 cannot be interrupted);
 * - verifyUnknown() costs what a real verification costs, so that an unknown
 *   username cannot be told from a wrong password by its timing.
 */
import type { Deadline } from '../lib/deadline.ts';
import { FairSemaphore } from '../lib/fair-semaphore.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { clientKey } from './client-key.ts';
import { HashThreads } from './hash-threads.ts';

export interface PasswordOptions {
  /** argon2 memory in KiB (OWASP: 19456). */
  memoryKiB: number;
  /** argon2 iterations (OWASP: 2). */
  timeCost: number;
  concurrency: number;
  maxWaiting: number;
  /** Slow hashes waiting per client (and per class); the default is `maxWaiting`. */
  maxWaitingPerClient?: number;
}

/** Whose slow hash it is, for its place in the queue. */
export interface Admission {
  /** The client address as the HTTP server saw it ('' when none was given: one shared client). */
  clientIp: string;
  /** A known device of the account, or a holder of its session: served before strangers. */
  known: boolean;
}

/** Work that names no client (seeding in tests and benchmarks): the shared empty address. */
const UNATTRIBUTED: Admission = { clientIp: '', known: false };

export class Passwords {
  /**
   * Slow operations run, by kind, and those dropped unstarted because their
   * caller was gone: for metrics and for tests that count them.
   */
  readonly counts = { hash: 0, verify: 0, cancelled: 0 };
  private readonly slots: FairSemaphore;
  private readonly threads: HashThreads;
  private dummy: Promise<string> | null = null;

  constructor(
    private readonly options: PasswordOptions,
    private readonly onWait: (waitedMs: number, ranMs: number) => void = () => {},
  ) {
    this.slots = new FairSemaphore(
      options.concurrency,
      options.maxWaiting,
      options.maxWaitingPerClient ?? options.maxWaiting,
    );
    this.threads = new HashThreads(options.concurrency);
  }

  get queueDepth(): number {
    return this.slots.waiting;
  }

  /**
   * Throws what this client's slow hash would be refused with now: its own
   * queue is full, or the whole queue is and it may not take a place of
   * another client's. Callers check it before spending anything else on an
   * attempt: a refused attempt tried no password, so it must not count
   * against the account or the address, nor cost cache round trips.
   */
  refuseIfFull(admission: Admission): void {
    const refused = this.slots.refusal(clientKey(admission.clientIp), admission.known);
    if (refused !== null) throw busy(refused);
  }

  hash(password: string, deadline: Deadline, admission = UNATTRIBUTED): Promise<string> {
    return this.slow(deadline, admission, () => {
      this.counts.hash++;
      return this.threads.hash(password, this.options.memoryKiB, this.options.timeCost);
    });
  }

  verify(
    password: string,
    hash: string,
    deadline: Deadline,
    admission = UNATTRIBUTED,
  ): Promise<boolean> {
    return this.slow(deadline, admission, async () => {
      this.counts.verify++;
      try {
        return await this.threads.verify(password, hash);
      } catch {
        return false; // A malformed stored hash matches nothing.
      }
    });
  }

  /** A verification against a hash of the current parameters that nothing matches. */
  async verifyUnknown(
    password: string,
    deadline: Deadline,
    admission = UNATTRIBUTED,
  ): Promise<void> {
    this.dummy ??= this.threads.hash(
      crypto.randomUUID(),
      this.options.memoryKiB,
      this.options.timeCost,
    );
    await this.verify(password, await this.dummy, deadline, admission);
  }

  /** Ends the hash threads; pending hashes fail. */
  close(): void {
    this.threads.close();
  }

  /** True when `hash` was made with other parameters than the current ones. */
  needsRehash(hash: string): boolean {
    const params = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=\d+\$/.exec(hash);
    return (
      params === null ||
      Number(params[1]) !== this.options.memoryKiB ||
      Number(params[2]) !== this.options.timeCost
    );
  }

  private async slow<T>(
    deadline: Deadline,
    admission: Admission,
    work: () => Promise<T>,
  ): Promise<T> {
    const queued = performance.now();
    const { clientIp, known } = admission;
    const acquired = await this.slots.acquire(deadline, clientKey(clientIp), known);
    if (acquired === 'busy' || acquired === 'key-busy') throw busy(acquired);
    if (acquired === 'timeout')
      throw new RpcError(Status.DEADLINE_EXCEEDED, 'the server is too busy to answer in time');
    if (acquired === 'cancelled' || deadline.cancelled) {
      if (acquired === 'acquired') this.slots.release();
      this.counts.cancelled++;
      throw RpcError.cancelled();
    }
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.slots.release();
      this.onWait(started - queued, performance.now() - started);
    }
  }
}

function busy(why: 'busy' | 'key-busy'): RpcError {
  return new RpcError(
    Status.RESOURCE_EXHAUSTED,
    why === 'key-busy'
      ? 'too many sign-ins from this address at once, try again in a moment'
      : 'too many sign-ins at once, try again in a moment',
    { retryAfterS: 1 },
  );
}
