import { afterEach, describe, expect, it } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manyScanJpeg, png } from '../../test/support/images.ts';
import { Deadline } from '../lib/deadline.ts';
import { silentLogger } from '../log.ts';
import { ImageWorkers } from './image-workers.ts';
import { SharpProcessor } from './sharp-processor.ts';

/** Real processes at nice 19: on a busy machine they wait for every other one. */
const REAL_PROCESSES_MS = 30_000;

const opened: ImageWorkers[] = [];
afterEach(() => {
  for (const workers of opened.splice(0)) workers.close();
});

function workers(recycleAboveBytes = 1 << 30, size = 1): ImageWorkers {
  const made = new ImageWorkers({ size, maxPixels: 40_000_000, recycleAboveBytes }, silentLogger);
  opened.push(made);
  return made;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Whether the process is gone within 3 s (a killed child lingers until it is reaped). */
async function ends(pid: number): Promise<boolean> {
  const until = performance.now() + 3000;
  while (alive(pid) && performance.now() < until) await Bun.sleep(10);
  return !alive(pid);
}

/** The nice value of every thread of a process (field 19 of /proc/<pid>/task/<tid>/stat). */
function niceOfThreads(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return []; // the thread ended between the listing and the read
    }
  });
}

describe('unit: ImageWorkers (real child processes)', () => {
  it(
    'should give the same images as SharpProcessor in this process',
    async () => {
      const input = await png(300, 200);
      const soon = Deadline.after(20_000);
      const inProcess = await new SharpProcessor({ maxPixels: 40_000_000 }).process(
        input,
        'png',
        [256, 64],
        soon,
      );
      expect(await workers().process(input, 'png', [256, 64], soon)).toEqual(inProcess);
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should run every thread of the image process at the lowest priority',
    async () => {
      const images = workers();
      await images.process(await png(), 'png', [256], Deadline.after(20_000));
      const [pid] = images.pids();
      const nices = niceOfThreads(pid as number);
      expect(nices.length).toBeGreaterThan(1);
      expect(nices.every((nice) => nice === 19)).toBe(true);
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should stop the work itself when the deadline passes: the process is killed',
    async () => {
      const images = workers();
      // Warm: the process is up, so the deadline measures the decode alone.
      await images.process(await png(), 'png', [256], Deadline.after(20_000));
      const [pid] = images.pids();
      // 631 scans over 6320×6320: many seconds of work if it were let run.
      const bomb = manyScanJpeg(6320, 6320, 10);
      const started = performance.now();
      const out = await images.process(bomb, 'jpeg', [256, 64], Deadline.after(500));
      expect(out).toEqual({ rejected: 'too_slow' });
      expect(performance.now() - started).toBeLessThan(1500);
      expect(await ends(pid as number)).toBe(true);
      expect(images.counts.killed).toBe(1);
      // The next job gets a new process.
      expect(
        Array.isArray(await images.process(await png(), 'png', [64], Deadline.after(20_000))),
      ).toBe(true);
      expect(images.pids()).not.toContain(pid as number);
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should replace a process whose memory grew past the limit after its job',
    async () => {
      const images = workers(0);
      await images.process(await png(), 'png', [64], Deadline.after(20_000));
      const [first] = images.pids(); // the replacement, started at once
      expect(images.counts.recycled).toBe(1);
      expect(first).toBeDefined();
      await images.process(await png(), 'png', [64], Deadline.after(20_000));
      expect(images.counts.recycled).toBe(2);
      expect(images.pids()).not.toContain(first as number);
      const [cost] = images.costs;
      expect(cost && cost.cpuMs > 0 && cost.rssPeak >= cost.rssBefore).toBe(true);
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should run at most `size` jobs at once and the rest in order',
    async () => {
      const images = workers(1 << 30, 2);
      const inputs = await Promise.all([
        png(100, 100),
        png(120, 100),
        png(140, 100),
        png(160, 100),
      ]);
      const soon = Deadline.after(30_000);
      const outs = await Promise.all(
        inputs.map((input) => images.process(input, 'png', [64], soon)),
      );
      expect(outs.every(Array.isArray)).toBe(true);
      expect(images.pids().length).toBe(2);
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should answer unavailable, not blame the picture, when a process cannot start',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'usermgr-image-workers-'));
      const script = join(dir, 'broken.ts');
      writeFileSync(script, 'process.exit(3);\n');
      try {
        const images = new ImageWorkers(
          { size: 1, maxPixels: 40_000_000, recycleAboveBytes: 1 << 30, script },
          silentLogger,
        );
        opened.push(images);
        const out = await images.process(await png(), 'png', [64], Deadline.after(20_000));
        expect(out).toEqual({ rejected: 'unavailable' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    REAL_PROCESSES_MS,
  );

  it(
    'should refuse as too slow whatever is pending when closed, and end its processes',
    async () => {
      const images = workers();
      await images.process(await png(), 'png', [64], Deadline.after(20_000));
      const [pid] = images.pids();
      const pending = images.process(
        manyScanJpeg(6320, 6320, 2),
        'jpeg',
        [64],
        Deadline.after(20_000),
      );
      images.close();
      expect(await pending).toEqual({ rejected: 'too_slow' });
      expect(await ends(pid as number)).toBe(true);
    },
    REAL_PROCESSES_MS,
  );
});
