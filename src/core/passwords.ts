/**
 * Password hashing: argon2id PHC strings through Bun.password, run on a few
 * threads of our own (hash-threads.ts). Invariants:
 * - a stranger's hash runs at the lowest scheduling priority (nice 19) while
 *   wrong passwords are as common as right ones among the last verdicts, so
 *   that a storm of wrong passwords never starves the event loops of this
 *   server and its neighbours: it must not slow down everyone else's cheap
 *   requests. While right passwords dominate (a herd of first logins after a
 *   start), and always for a known client, hashes run at the process's own
 *   priority: at nice 19 the logins of the users already in took the cores
 *   from the first logins of the others. A slow verdict that comes out right
 *   needs a right password the memo does not know yet, so a storm cannot buy
 *   itself normal priority with wrong ones;
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
 *   username cannot be told from a wrong password by its timing;
 * - the strength estimate of a new password (weakness()) is slow work too (a
 *   crafted password keeps the estimator 50 to 300 ms): it runs on a thread
 *   of its own at nice 19, never on the event loop (where a few sign-ups a
 *   second stalled every login), one at a time, admitted by a fair queue of
 *   its own with the same bounds per client and in all. Not the hashes'
 *   slots: estimates holding them while they waited for their one thread
 *   left the hash threads idle and cut stranger logins to a fifth (a review).
 */

import { clientKey } from '../lib/client-key.ts';
import { Deadline } from '../lib/deadline.ts';
import { FairSemaphore } from '../lib/fair-semaphore.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
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

/** What an empty password is verified as (and then answered wrong): one character, below every password rule. */
const EMPTY_STAND_IN = '\u0000';

/** How many of the latest slow verdicts decide the priority of strangers' hashes. */
const VERDICTS = 32;
/** The weight of the newest hash's time in the running estimate. */
const RUN_WEIGHT = 0.2;
/**
 * A stranger's hash is admitted when, at the pace hashes run now, it would
 * end within this share of the time its caller has left: the pace is an
 * estimate, and it drops when the machine gets busier after the admission
 * (a storm beside the full test suite got 504s with the whole time left).
 */
const ADMIT_SHARE = 0.5;
/**
 * A queued hash starts only with at least this share of the time its caller
 * had left when it queued (and twice the estimate) still ahead of it; later,
 * it leaves the queue with a 429. Twice the estimate alone was not enough:
 * a hash at nice 19 during a storm beside the full test suite ran several
 * times the estimate, and its caller got a 504.
 */
const START_RESERVE = 0.25;
/** How long the estimator's warm-up may wait for its slot (it is the first: it never waits). */
const WARM_UP_MS = 60_000;

export class Passwords {
  /**
   * Slow operations run, by kind, and those dropped unstarted because their
   * caller was gone: for metrics and for tests that count them.
   */
  readonly counts = { hash: 0, verify: 0, strength: 0, cancelled: 0 };
  private readonly slots: FairSemaphore;
  /** The estimator's own fair queue: one estimate at a time, as its one thread runs them. */
  private readonly estimateSlots: FairSemaphore;
  /** Threads at nice 19, and threads at the process's priority (started on first use). */
  private readonly low: HashThreads;
  private readonly normal: HashThreads;
  /** The strength estimator's one thread (it alone loads the dictionaries), at nice 19. */
  private readonly estimator = new HashThreads(1, 19);
  /** The latest verdicts (true: right), oldest first, and how many of them are right. */
  private readonly verdicts: boolean[] = [];
  private right = 0;
  /** A slow hash's time on its thread, a running estimate; 0 until one has run. */
  private runMs = 0;
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
    this.estimateSlots = new FairSemaphore(
      1,
      options.maxWaiting,
      options.maxWaitingPerClient ?? options.maxWaiting,
    );
    this.low = new HashThreads(options.concurrency, 19);
    this.normal = new HashThreads(options.concurrency, null);
    // The dummy hash, made now, gives the first estimate of a hash's time:
    // the first herd after a start must not be admitted beyond what ends in time.
    this.dummyHash();
  }

  /** The priority a stranger's hash gets now (a known client's is always normal). */
  get priority(): 'low' | 'normal' {
    return this.right * 2 > this.verdicts.length ? 'normal' : 'low';
  }

  /** The estimated time of one slow hash on its thread (0 before the first has run). */
  get hashMs(): number {
    return this.runMs;
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
   * A stranger is also refused when the hashes waiting ahead of it and its
   * own, at the pace hashes run now, would end after half its `remainingMs`
   * (ADMIT_SHARE): it would only wait to be answered DEADLINE_EXCEEDED. So the bound follows
   * what the threads do (a herd of first logins gets about as many places
   * as hashes that end in time, not a fixed 64) while hashes that run slow
   * still get a fast 429. Known clients are served first and skip it.
   */
  refuseIfFull(admission: Admission, remainingMs = Number.POSITIVE_INFINITY): void {
    const key = clientKey(admission.clientIp);
    const refused = this.slots.refusal(key, admission.known);
    if (refused !== null) throw busy(refused);
    if (!admission.known && this.finishMs(key) > remainingMs * ADMIT_SHARE) throw busy('busy');
  }

  /** When a stranger's hash queued now would end, at the pace hashes run now. */
  private finishMs(key: string): number {
    const { concurrency } = this.options;
    const free = this.slots.active < concurrency && this.slots.waiting === 0;
    return free ? this.runMs : (this.slots.ahead(key, false) / concurrency + 1) * this.runMs;
  }

  hash(password: string, deadline: Deadline, admission = UNATTRIBUTED): Promise<string> {
    return this.slow(deadline, admission, () => {
      this.counts.hash++;
      const { memoryKiB, timeCost } = this.options;
      return this.threadsFor(admission).hash(password, memoryKiB, timeCost);
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
      let right: boolean;
      try {
        // Bun answers an empty password at once, without the hash: it runs on
        // a stand-in instead, so that an empty password costs what a wrong one does.
        const probe = password === '' ? EMPTY_STAND_IN : password;
        right = (await this.threadsFor(admission).verify(probe, hash)) && password !== '';
      } catch {
        right = false; // A malformed stored hash matches nothing.
      }
      this.remember(right);
      return right;
    });
  }

  /**
   * null when `password` (NFC, of an allowed length) is hard enough to guess,
   * with `userInputs` (username, nickname) counted as known words; else the
   * strength rule's message with the estimator's advice. Admitted and queued
   * like a hash, as `admission`'s.
   */
  weakness(
    password: string,
    userInputs: readonly string[],
    deadline: Deadline,
    admission = UNATTRIBUTED,
  ): Promise<string | null> {
    return this.slow(
      deadline,
      admission,
      () => {
        this.counts.strength++;
        return this.estimator.strength(password, [...userInputs]);
      },
      false,
    );
  }

  /**
   * Loads the estimator's dictionaries on its thread now, so that the first sign-up does
   * not wait for them. In the estimates' own queue: a sign-up arriving meanwhile waits its
   * turn there, where its deadline's reserve applies (a 429 in time), not inside the
   * thread behind the load (a fault run: a sign-up right after a restart got a 504).
   */
  async warmEstimator(): Promise<void> {
    const acquired = await this.estimateSlots.acquire(Deadline.after(WARM_UP_MS), 'warm-up');
    if (acquired !== 'acquired') return;
    try {
      await this.estimator.strength('', []);
    } catch {
      // closed meanwhile: nothing to warm
    } finally {
      this.estimateSlots.release();
    }
  }

  /** A verification against a hash of the current parameters that nothing matches. */
  async verifyUnknown(
    password: string,
    deadline: Deadline,
    admission = UNATTRIBUTED,
  ): Promise<void> {
    await this.verify(password, await this.dummyHash(), deadline, admission);
  }

  /** Ends the hash threads; pending hashes fail. */
  close(): void {
    this.low.close();
    this.normal.close();
    this.estimator.close();
  }

  /** A hash of the current parameters that nothing matches, made once (again if it failed). */
  private dummyHash(): Promise<string> {
    if (this.dummy !== null) return this.dummy;
    const { memoryKiB, timeCost } = this.options;
    const dummy = this.low.hash(crypto.randomUUID(), memoryKiB, timeCost);
    this.dummy = dummy;
    dummy.then(
      // One verify against it on the thread that made it gives the estimate:
      // the thread's start and its first hash (which also maps the memory) are slower.
      (hash) =>
        this.low.verify(crypto.randomUUID(), hash).then(
          () => {
            if (this.runMs === 0) this.runMs = this.low.lastRunMs;
          },
          () => {}, // closed meanwhile: no estimate needed
        ),
      () => {
        if (this.dummy === dummy) this.dummy = null;
      },
    );
    return dummy;
  }

  private threadsFor(admission: Admission): HashThreads {
    return admission.known || this.priority === 'normal' ? this.normal : this.low;
  }

  private remember(right: boolean): void {
    this.verdicts.push(right);
    if (right) this.right++;
    if (this.verdicts.length > VERDICTS && this.verdicts.shift()) this.right--;
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

  /**
   * `isHash`: a hash, in the hashes' slots, its time feeding the estimate of a hash's and
   * the hash histograms (`onWait`); else a strength estimate, in the estimator's slots.
   */
  private async slow<T>(
    deadline: Deadline,
    admission: Admission,
    work: () => Promise<T>,
    isHash = true,
  ): Promise<T> {
    const queued = performance.now();
    const { clientIp, known } = admission;
    const slots = isHash ? this.slots : this.estimateSlots;
    // A hash that could no longer end before the deadline leaves the queue
    // as soon as that is known, refused like a full queue (429, not a 504
    // at the deadline): the pace can drop after it was admitted, and a hash
    // that starts as it drops runs slower than the estimate (START_RESERVE).
    // Also before the first estimate, and for estimates of strength: a fresh
    // TCP server's first herd waited to the deadline, and every login that had
    // joined the flight of the first (same user and password) got its 504 at
    // that moment, one that had joined 26 ms before too (a fault run).
    const hashMs = isHash ? this.runMs : 0;
    const remainingMs = deadline.remainingMs();
    const reserveMs = Math.max(2 * hashMs, remainingMs * START_RESERVE);
    const inTime = Deadline.after(remainingMs - reserveMs, deadline.signal);
    const acquired = await slots.acquire(inTime, clientKey(clientIp), known);
    if (acquired === 'busy' || acquired === 'key-busy') throw busy(acquired);
    if (acquired === 'timeout' && !deadline.expired()) throw busy('busy');
    if (acquired === 'timeout')
      throw new RpcError(Status.DEADLINE_EXCEEDED, 'the server is too busy to answer in time');
    if (acquired === 'cancelled' || deadline.cancelled) {
      if (acquired === 'acquired') slots.release();
      this.counts.cancelled++;
      throw RpcError.cancelled();
    }
    const started = performance.now();
    try {
      return await work();
    } finally {
      slots.release();
      const ranMs = performance.now() - started;
      if (isHash) {
        this.runMs = this.runMs === 0 ? ranMs : this.runMs + RUN_WEIGHT * (ranMs - this.runMs);
        this.onWait(started - queued, ranMs);
      }
    }
  }
}

function busy(why: 'busy' | 'key-busy'): RpcError {
  return new RpcError(
    Status.RESOURCE_EXHAUSTED,
    why === 'key-busy'
      ? 'too many sign-ins from this address at once'
      : 'too many sign-ins at once',
    { retryAfterS: 1 },
  );
}
