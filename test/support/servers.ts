/**
 * Starts one of the project's commands (`src/main.ts`, `src/tcp/main.ts`,
 * `src/http/main.ts`) as a child process, as `npm start` or a unit would,
 * under a guard that kills it if the test dies first.
 */
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import type { Guard } from './orphans.ts';

export type Server = Subprocess<'ignore', 'pipe', 'pipe'>;

const root = join(import.meta.dir, '../..');

/** `script` relative to the repository, with the test's environment and `env` over it. */
export function spawnServer(guard: Guard, script: string, env: Record<string, string>): Server {
  const proc = Bun.spawn([process.execPath, join(root, script)], {
    env: { ...process.env, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  guard.track(proc.pid);
  return proc;
}
