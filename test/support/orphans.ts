/**
 * Processes a test starts must not outlive it, even when the test process
 * itself is killed (SIGKILL, a crash, Ctrl-C). A guard is a temporary
 * directory plus a watchdog shell that outlives the test process: it polls
 * the test's pid, and once that is gone it SIGKILLs every pid listed in the
 * directory's `pids` file and removes the directory. release() kills the
 * listed processes itself, removes the directory, and the watchdog then exits
 * on its own (it also stops when the directory disappears).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Guard {
  /** The temporary directory: put the processes' files here. */
  dir: string;
  /** Kill this pid if the test process dies. */
  track(pid: number): void;
  /** The process has exited (and was waited for): never signal that pid again. */
  untrack(pid: number): void;
  /** SIGKILLs every tracked process still alive and removes the directory. */
  release(): void;
}

// The watchdog ignores the signals a terminal sends to the whole process
// group, so that Ctrl-C on the test run cannot take it down before it has
// cleaned up. Bounded: it ends when the test process or the directory is gone.
const WATCHDOG = `
trap '' INT TERM HUP
while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 0.5; done
if [ -f "$2/pids" ]; then
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done < "$2/pids"
fi
rm -rf "$2"
`;

export function guardProcesses(name: string): Guard {
  const dir = mkdtempSync(join(tmpdir(), `usermgr-${name}-`));
  const pids = join(dir, 'pids');
  writeFileSync(pids, '');
  const watchdog = Bun.spawn(['sh', '-c', WATCHDOG, 'watchdog', String(process.pid), dir], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  watchdog.unref();
  return {
    dir,
    track(pid) {
      appendFileSync(pids, `${pid}\n`);
    },
    untrack(pid) {
      try {
        const kept = readFileSync(pids, 'utf8')
          .split('\n')
          .filter((line) => line !== '' && line !== String(pid));
        writeFileSync(pids, kept.map((line) => `${line}\n`).join(''));
      } catch {} // released already
    },
    release() {
      let listed: string[] = [];
      try {
        listed = readFileSync(pids, 'utf8').split('\n').filter(Boolean);
      } catch {}
      for (const pid of listed) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {} // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
