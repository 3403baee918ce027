/**
 * One thread of HashThreads: runs argon2id synchronously, one job at a time.
 * It first lowers its own scheduling priority to the lowest (nice 19). On
 * Linux, setpriority() for "this process" (pid 0) applies to the calling
 * thread only, so the process's event loop, and every other process on the
 * machine, keep precedence over a slow hash: a storm of wrong passwords then
 * costs the attacker their wait, not everyone else's latency.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { HashJob, HashReply } from './hash-threads.ts';

try {
  setPriority(19);
} catch {
  // Not permitted here (some sandboxes): hashes still run, at normal priority.
}

parentPort?.on('message', (job: HashJob) => {
  let reply: HashReply;
  try {
    const value =
      job.op === 'hash'
        ? Bun.password.hashSync(job.password, {
            algorithm: 'argon2id',
            memoryCost: job.memoryKiB,
            timeCost: job.timeCost,
          })
        : Bun.password.verifySync(job.password, job.hash);
    reply = { id: job.id, value };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message ?? String(err) };
  }
  parentPort?.postMessage(reply);
});
