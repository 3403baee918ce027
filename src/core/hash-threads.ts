/**
 * A few threads of our own for the slow hashes (argon2id), each at the
 * scheduling priority it is made with (`nice`; see hash-worker.ts). Invariants:
 * - at most `size` jobs run at once, one per thread; more wait in FIFO order.
 *   Which job comes next is not decided here: the caller, Passwords, holds
 *   the waiting hashes in its fair queue and submits one only when a thread
 *   is free (the one dummy hash of verifyUnknown aside), so this FIFO never
 *   holds a backlog;
 * - threads start on first use and never keep the process alive when idle
 *   (they are unref'd; a timer holds the process while jobs are pending);
 * - a thread that dies fails its job and is replaced on the next job;
 * - close() ends every thread and fails whatever was still pending.
 */
import { Worker } from 'node:worker_threads';

export type HashJob =
  | { id: number; op: 'hash'; password: string; memoryKiB: number; timeCost: number }
  | { id: number; op: 'verify'; password: string; hash: string }
  /** The strength rule's refusal of a new password, or null (password-strength.ts). */
  | { id: number; op: 'strength'; password: string; userInputs: string[] };

/** `ms`: how long the job took on its thread (thread start and messages left out). */
export type HashReply =
  | { id: number; value: string | boolean | null; ms: number }
  | { id: number; error: string };

type Job = HashJob extends infer J ? (J extends HashJob ? Omit<J, 'id'> : never) : never;

interface Pending {
  job: HashJob;
  resolve: (value: string | boolean | null) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  current: Pending | null;
}

const WORKER_PATH = new URL('./hash-worker.ts', import.meta.url);
/**
 * The name of every hash thread, which Bun gives the OS thread (`/proc/<pid>/task/<tid>/comm`):
 * what the benches meter the slow hashes by, whatever their priority.
 */
export const HASH_THREAD_NAME = 'usermgr-hash';

export class HashThreads {
  private readonly threads: Thread[] = [];
  private readonly queue: Pending[] = [];
  private lastId = 0;
  private closed = false;
  private busy = 0;
  private keepAlive: Timer | null = null;
  /** How long the last job that succeeded took on its thread; 0 before one has. */
  lastRunMs = 0;

  /** `nice`: the threads' scheduling priority (19: the lowest); null keeps the process's. */
  constructor(
    private readonly size: number,
    private readonly nice: number | null = 19,
  ) {}

  hash(password: string, memoryKiB: number, timeCost: number): Promise<string> {
    return this.submit({ op: 'hash', password, memoryKiB, timeCost }) as Promise<string>;
  }

  /** Rejects when the stored hash is malformed. */
  verify(password: string, hash: string): Promise<boolean> {
    return this.submit({ op: 'verify', password, hash }) as Promise<boolean>;
  }

  /** The strength rule's refusal of a new password, or null when it is strong enough. */
  strength(password: string, userInputs: string[]): Promise<string | null> {
    return this.submit({ op: 'strength', password, userInputs }) as Promise<string | null>;
  }

  close(): void {
    this.closed = true;
    for (const thread of this.threads.splice(0)) {
      thread.worker.terminate();
      thread.current?.reject(new Error('password threads closed'));
    }
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.busy = 0;
    for (const pending of this.queue.splice(0))
      pending.reject(new Error('password threads closed'));
  }

  private submit(job: Job): Promise<string | boolean | null> {
    if (this.closed) return Promise.reject(new Error('password threads closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { ...job, id: ++this.lastId } as HashJob, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const thread = this.idleThread();
      if (thread === null) return;
      const pending = this.queue.shift() as Pending;
      thread.current = pending;
      if (this.busy++ === 0) this.keepAlive = setInterval(() => {}, 1 << 30);
      thread.worker.postMessage(pending.job);
    }
  }

  private idleThread(): Thread | null {
    const idle = this.threads.find((t) => t.current === null);
    if (idle !== undefined) return idle;
    if (this.threads.length >= this.size) return null;
    const thread: Thread = {
      worker: new Worker(WORKER_PATH, {
        name: HASH_THREAD_NAME,
        workerData: { nice: this.nice },
      }),
      current: null,
    };
    thread.worker.unref();
    thread.worker.on('message', (reply: HashReply) => {
      const pending = thread.current;
      if (pending === null || pending.job.id !== reply.id) return;
      this.finish(thread);
      if ('error' in reply) pending.reject(new Error(reply.error));
      else {
        this.lastRunMs = reply.ms;
        pending.resolve(reply.value);
      }
    });
    thread.worker.on('error', (error: Error) => {
      const pending = thread.current;
      const at = this.threads.indexOf(thread);
      if (at >= 0) this.threads.splice(at, 1);
      thread.worker.terminate();
      if (pending !== null) {
        this.finish(thread);
        pending.reject(new Error(`password thread failed: ${error.message}`));
      }
      this.pump();
    });
    this.threads.push(thread);
    return thread;
  }

  private finish(thread: Thread): void {
    thread.current = null;
    if (--this.busy === 0 && this.keepAlive !== null) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
    this.pump();
  }
}
