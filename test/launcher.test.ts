/**
 * `npm start` (src/main.ts) end to end on SQLite: the TCP server and the
 * HTTP servers as child processes, several HTTP servers sharing one port,
 * a sign-up and a login through them, and SIGTERM stopping every process.
 */
import { afterAll, describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { jsonInit } from './fixture.ts';
import { guardProcesses } from './support/orphans.ts';
import { freePort } from './support/redis.ts';

const root = join(import.meta.dir, '..');
// Kills the launcher and its children even if an assertion (or this process) dies first.
const guard = guardProcesses('launcher');
const dataDir = join(guard.dir, 'data');
afterAll(() => guard.release());

function launch(env: Record<string, string>): Subprocess {
  const proc = Bun.spawn([process.execPath, join(root, 'src/main.ts')], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      MYSQL_URL: '',
      REDIS_URL: '',
      TCP_METRICS_PORT: '0',
      ...env,
    },
    stdout: 'ignore',
    stderr: 'pipe',
  });
  guard.track(proc.pid);
  return proc;
}

function childPids(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** The scripts the launcher's children run, e.g. ['tcp/main.ts', 'http/main.ts']. */
function children(pid: number): string[] {
  const ids = childPids(pid);
  for (const id of ids) guard.track(Number(id));
  return ids
    .map((id) => {
      try {
        const argv = readFileSync(`/proc/${id}/cmdline`, 'utf8').split('\0');
        return (argv.find((a) => a.endsWith('main.ts')) ?? '').split('/src/')[1] ?? '';
      } catch {
        return '';
      }
    })
    .filter(Boolean)
    .sort();
}

async function until<T>(what: string, probe: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const value = await probe();
    if (value !== null) return value;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('integration: npm start (src/main.ts)', () => {
  it('should run two HTTP servers on one port in front of the TCP server, and stop them all on SIGTERM', async () => {
    const [tcpPort, httpPort] = [await freePort(), await freePort()];
    const proc = launch({
      TCP_PORT: String(tcpPort),
      TCP_ADDRS: `127.0.0.1:${tcpPort}`,
      HTTP_PORT: String(httpPort),
      HTTP_PROCESSES: '2',
    });
    const url = `http://127.0.0.1:${httpPort}`;
    await until('readiness', async () =>
      (await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) === 200
        ? true
        : null,
    );
    await until('two HTTP servers', async () => (children(proc.pid).length === 3 ? true : null));
    expect(children(proc.pid)).toEqual(['http/main.ts', 'http/main.ts', 'tcp/main.ts']);

    const credentials = { username: 'launched_user', password: 'a long password' };
    const signUp = await fetch(`${url}/open_api/v1/register`, jsonInit('POST', credentials));
    expect(signUp.status).toBe(200);
    // Fresh connections, so the kernel may hand them to either HTTP server.
    for (let i = 0; i < 4; i++) {
      const login = await fetch(`${url}/open_api/v1/authenticate`, {
        ...jsonInit('POST', credentials),
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { token: string }).token).toContain('.');
    }

    const pids = childPids(proc.pid);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    for (const pid of pids) expect(() => readFileSync(`/proc/${pid}/cmdline`)).toThrow();
  }, 60_000);

  it('should run one HTTP server when HTTP_PORT=0, since several cannot share a random port', async () => {
    const tcpPort = await freePort();
    const proc = launch({
      TCP_PORT: String(tcpPort),
      TCP_ADDRS: `127.0.0.1:${tcpPort}`,
      HTTP_PORT: '0',
      HTTP_PROCESSES: '3',
    });
    await until('the HTTP server', async () =>
      children(proc.pid).includes('http/main.ts') ? true : null,
    );
    await Bun.sleep(500);
    expect(children(proc.pid)).toEqual(['http/main.ts', 'tcp/main.ts']);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stderr as ReadableStream).text()).toContain(
      'HTTP_PORT=0: running one HTTP server',
    );
  }, 60_000);
});
