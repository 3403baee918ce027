/**
 * One image process of ImageWorkers: runs SharpProcessor on the jobs its
 * parent sends over IPC, one at a time, and answers each with the result and
 * what the job cost this process (CPU, peak memory). Once sharp is loaded
 * (a start at normal priority, so that a busy machine does not starve it)
 * it puts every thread it has at the lowest scheduling priority, before it
 * says it is ready; threads started later inherit that from the thread
 * that starts them, and are lowered again after each job all the same. It
 * exits when its parent goes away.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { ImageRejection, ImageType } from '../core/picture-ports.ts';
import { Deadline } from '../lib/deadline.ts';
import { SharpProcessor } from './sharp-processor.ts';

export interface ImageJob {
  id: number;
  input: Uint8Array;
  type: ImageType;
  maxPixels: number;
  sizes: readonly number[];
  /** Time left for the job, ms. */
  ms: number;
}

export interface ImageJobCost {
  /** CPU time of the whole process (every thread) during the job. */
  cpuMs: number;
  /** Resident memory when the job started. */
  rssBefore: number;
  /** The highest resident memory seen during the job (sampled every few ms). */
  rssPeak: number;
  /** Resident memory after the job. */
  rssAfter: number;
}

export interface ImageReply {
  id: number;
  result: Uint8Array[] | ImageRejection;
  cost: ImageJobCost;
}

/** Every thread of this process at nice 19 (on Linux, priority is per thread). */
function lowerPriority(): void {
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return; // not Linux: images still decode, at normal priority
  }
  for (const task of tasks) {
    try {
      setPriority(Number(task), 19);
    } catch {
      // The thread has ended, or this is not permitted (some sandboxes): the rest still are lowered.
    }
  }
}

lowerPriority();

process.on('message', async (job: ImageJob) => {
  const cpu = process.cpuUsage();
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  // The decoder runs on other threads: this one is free to watch memory.
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 2);
  const processor = new SharpProcessor({ maxPixels: job.maxPixels });
  const deadline = Deadline.after(job.ms);
  const result = await processor.process(job.input, job.type, job.sizes, deadline);
  clearInterval(sampler);
  const used = process.cpuUsage(cpu);
  const rssAfter = process.memoryUsage.rss();
  const cost: ImageJobCost = {
    cpuMs: (used.user + used.system) / 1000,
    rssBefore,
    rssPeak: Math.max(rssPeak, rssAfter),
    rssAfter,
  };
  process.send?.({ id: job.id, result, cost } satisfies ImageReply);
  lowerPriority(); // threads the decoder started meanwhile
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
