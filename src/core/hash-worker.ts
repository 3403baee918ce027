/**
 * One thread of HashThreads: runs argon2id synchronously, one job at a time.
 * It first sets its own scheduling priority to the one it was made with
 * (`workerData.nice`: 19 for the low threads, none for the normal ones). On
 * Linux, setpriority() for "this process" (pid 0) applies to the calling
 * thread only, so at nice 19 the process's event loop, and every other
 * process on the machine, keep precedence over a slow hash: a storm of wrong
 * passwords then costs the attacker their wait, not everyone else's latency.
 * A thread never raises its priority again (that needs CAP_SYS_NICE): a
 * hash that should run at normal priority goes to a normal thread instead.
 *
 * It also runs the password strength estimator (`strength`): loaded on the
 * first such job only, so that the threads that never get one (Passwords
 * gives them all to a thread of their own) never load its dictionaries.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { HashJob, HashReply } from './hash-threads.ts';
import type * as Strength from './password-strength.ts';

const nice = (workerData as { nice?: number | null } | null)?.nice ?? null;
try {
  if (nice !== null) setPriority(nice);
} catch {
  // Not permitted here (some sandboxes): hashes still run, at normal priority.
}

let strength: typeof Strength | undefined;

async function run(job: HashJob): Promise<string | boolean | null> {
  switch (job.op) {
    case 'hash':
      return Bun.password.hashSync(job.password, {
        algorithm: 'argon2id',
        memoryCost: job.memoryKiB,
        timeCost: job.timeCost,
      });
    case 'verify':
      return Bun.password.verifySync(job.password, job.hash);
    case 'strength':
      strength ??= await import('./password-strength.ts');
      return strength.passwordStrengthError(job.password, job.userInputs);
  }
}

parentPort?.on('message', async (job: HashJob) => {
  let reply: HashReply;
  const started = performance.now();
  try {
    reply = { id: job.id, value: await run(job), ms: performance.now() - started };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message ?? String(err) };
  }
  parentPort?.postMessage(reply);
});
