/**
 * The ImageProcessor port on child processes: each image is decoded by
 * SharpProcessor in a process of its own (src/media/image-worker.ts), so that
 * - the work runs at the lowest scheduling priority, every thread of it
 *   (nice 19, see image-worker.ts): logins in the TCP process come first;
 * - the work stops when its deadline passes: the process is killed, which
 *   stops a decoder stuck inside one libjpeg call where sharp's own timeout
 *   is never consulted;
 * - its memory goes back to the system: freed buffers are unmapped (see
 *   GLIBC_RETURNS_MEMORY), a process still resident above `recycleAboveBytes`
 *   after a job is replaced, and a crash in a decoder fails one upload, not
 *   the server. A process ended for its deadline or its memory is replaced
 *   at once, so that the next upload does not wait for one to start.
 * Invariants: at most `size` processes, one job each; more jobs wait in
 * FIFO order (the picture service already bounds how many are submitted);
 * processes start on first use and never keep the TCP process alive.
 */
import type { ImageProcessor, ImageRejection, ImageType } from '../core/picture-ports.ts';
import type { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import type { ImageJob, ImageJobCost, ImageReply } from './image-worker.ts';

export interface ImageWorkersOptions {
  /** Processes, hence images decoded at once. */
  size: number;
  /** Largest width × height the decoder accepts (checked again in the process). */
  maxPixels: number;
  /** A process resident above this after a job is replaced (0: after every job). */
  recycleAboveBytes: number;
  /** The program each process runs (tests); image-worker.ts by default. */
  script?: string;
}

type Result = Uint8Array[] | ImageRejection;

interface Waiting {
  job: Omit<ImageJob, 'id' | 'ms'>;
  deadline: Deadline;
  resolve: (result: Result) => void;
}

interface Worker {
  proc: Bun.Subprocess;
  ready: Promise<boolean>;
  job: { id: number; resolve: (result: Result) => void; timer: Timer } | null;
}

/**
 * glibc raises its mmap threshold after large blocks are freed, after which
 * a decoder's buffers come from the heap and stay resident when freed. A
 * fixed threshold keeps them mmapped, returned to the system at free().
 */
const GLIBC_RETURNS_MEMORY = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };

const WORKER_PATH = new URL('./image-worker.ts', import.meta.url).pathname;

export class ImageWorkers implements ImageProcessor {
  private readonly workers: Worker[] = [];
  private readonly queue: Waiting[] = [];
  private lastId = 0;
  private closed = false;
  /** Outcomes, for metrics and tests. */
  readonly counts = { jobs: 0, killed: 0, crashed: 0, recycled: 0 };
  /** What each finished job cost its process, latest last (the last 100). */
  readonly costs: ImageJobCost[] = [];

  constructor(
    private readonly options: ImageWorkersOptions,
    private readonly log: Logger,
  ) {}

  process(
    input: Uint8Array,
    type: ImageType,
    sizes: readonly number[],
    deadline: Deadline,
  ): Promise<Result> {
    if (this.closed || deadline.expired()) {
      return Promise.resolve({ rejected: 'too_slow' });
    }
    return new Promise((resolve) => {
      const { maxPixels } = this.options;
      this.queue.push({ job: { input, type, sizes, maxPixels }, deadline, resolve });
      this.pump();
    });
  }

  /** The process ids, for tests. */
  pids(): number[] {
    return this.workers.map((w) => w.proc.pid);
  }

  /** Ends every process; jobs in work or waiting are refused as too slow. */
  close(): void {
    this.closed = true;
    for (const worker of this.workers.splice(0)) this.end(worker, { rejected: 'too_slow' });
    for (const waiting of this.queue.splice(0)) waiting.resolve({ rejected: 'too_slow' });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const worker = this.idleWorker();
      if (worker === null) return;
      const waiting = this.queue.shift() as Waiting;
      // A caller already gone, or out of time, costs no process a decode.
      if (waiting.deadline.cancelled || waiting.deadline.expired()) {
        waiting.resolve({ rejected: 'too_slow' });
        continue;
      }
      this.start(worker, waiting);
    }
  }

  private start(worker: Worker, { job, deadline, resolve }: Waiting): void {
    const id = ++this.lastId;
    const timer = setTimeout(() => {
      // The deadline passed: stop the work itself, not only the answer.
      this.counts.killed++;
      this.log.info({ type: job.type, bytes: job.input.length }, 'picture took too long: stopped');
      this.replace(worker, { rejected: 'too_slow' });
    }, deadline.remainingMs());
    worker.job = { id, resolve, timer };
    this.counts.jobs++;
    worker.ready.then((ready) => {
      if (!ready || worker.job?.id !== id) return;
      worker.proc.send({ ...job, id, ms: deadline.remainingMs() } satisfies ImageJob);
    });
  }

  private idleWorker(): Worker | null {
    const idle = this.workers.find((w) => w.job === null);
    if (idle !== undefined) return idle;
    if (this.workers.length >= this.options.size) return null;
    let markReady: (ready: boolean) => void = () => {};
    let started = false;
    const worker: Worker = {
      ready: new Promise((resolve) => {
        markReady = resolve;
      }),
      job: null,
      proc: Bun.spawn({
        cmd: [process.execPath, this.options.script ?? WORKER_PATH],
        env: { PATH: process.env.PATH ?? '', ...GLIBC_RETURNS_MEMORY },
        stdio: ['ignore', 'ignore', 'inherit'],
        serialization: 'advanced',
        ipc: (message: ImageReply | { ready: true }) => {
          if ('ready' in message) {
            started = true;
            return markReady(true);
          }
          this.reply(worker, message);
        },
        onExit: () => {
          markReady(false);
          if (!started) {
            // Not the picture's fault: this installation cannot decode (sharp missing?).
            this.log.error('an image process ended before it was ready');
            this.remove(worker, { rejected: 'unavailable' });
          } else if (worker.job !== null) {
            this.counts.crashed++;
            this.log.warn('an image process ended while decoding a picture');
            this.remove(worker, { rejected: 'unreadable' });
          } else {
            this.remove(worker, null);
          }
        },
      }),
    };
    worker.proc.unref();
    this.workers.push(worker);
    return worker;
  }

  private reply(worker: Worker, { id, result, cost }: ImageReply): void {
    const job = worker.job;
    if (job === null || job.id !== id) return;
    clearTimeout(job.timer);
    worker.job = null;
    this.costs.push(cost);
    if (this.costs.length > 100) this.costs.shift();
    job.resolve(result);
    if (cost.rssAfter > this.options.recycleAboveBytes) {
      this.counts.recycled++;
      this.replace(worker, null);
    }
    this.pump();
  }

  /** Ends a process and answers its job (when it has one) with `result`. */
  private remove(worker: Worker, result: Result | null): void {
    const at = this.workers.indexOf(worker);
    if (at >= 0) this.workers.splice(at, 1);
    this.end(worker, result);
    this.pump();
  }

  /** remove(), and a new process started at once, so that the next job need not wait for it. */
  private replace(worker: Worker, result: Result | null): void {
    this.remove(worker, result);
    if (!this.closed) this.idleWorker();
  }

  private end(worker: Worker, result: Result | null): void {
    const job = worker.job;
    worker.job = null;
    if (job !== null) {
      clearTimeout(job.timer);
      if (result !== null) job.resolve(result);
    }
    if (worker.proc.exitCode === null && worker.proc.signalCode === null) {
      worker.proc.kill('SIGKILL');
    }
  }
}
