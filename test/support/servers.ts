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

/**
 * `script` relative to the repository, with the test's environment and `env`
 * over it; `detached`: in a session and process group of its own, as a
 * service manager starts it, so that a signal can reach the whole group.
 */
export function spawnServer(
  guard: Guard,
  script: string,
  env: Record<string, string>,
  options: { detached?: boolean } = {},
): Server {
  const proc = Bun.spawn([process.execPath, join(root, script)], {
    env: { ...process.env, ...env },
    detached: options.detached ?? false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  guard.track(proc.pid);
  return proc;
}
