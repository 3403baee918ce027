/**
 * The processes of a benchmark: starting the servers the way production runs
 * them (one process each), and reading CPU time and memory from /proc to show
 * where the machine's cores went during a run.
 */

import { readFileSync } from 'node:fs';
import type { Subprocess } from 'bun';
import { RUNTIME_ENV } from '../src/process.ts';

const CLOCK_TICKS_PER_S = 100;
const root = `${import.meta.dir}/..`;

export interface Server {
  name: string;
  proc: Subprocess;
  /** What the process logged at warn level or above, by message: count. */
  warnings: Map<string, number>;
  /** Settles once the whole log has been read (the process has exited). */
  logRead: Promise<void>;
}

/**
 * Starts `src/<script>` with Bun under `env`; its stderr goes to this
 * terminal, and its log (stdout) is read for warnings (`serverWarnings`).
 * `profileDir` writes a CPU profile of the process there when it exits;
 * `tree` runs the script of another checkout (to compare two trees under
 * the same load and measurement).
 */
export function startServer(
  name: string,
  script: string,
  env: Record<string, string | undefined>,
  profileDir = '',
  tree = root,
): Server {
  const profile = profileDir
    ? [
        '--cpu-prof',
        '--cpu-prof-md',
        `--cpu-prof-dir=${profileDir}`,
        `--cpu-prof-name=${name}-${Date.now()}.md`,
      ]
    : [];
  const proc = Bun.spawn([process.execPath, ...profile, `${tree}/${script}`], {
    // As npm start runs them (src/process.ts): a bench of the servers without it measures another program.
    env: { ...RUNTIME_ENV, ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return watched(name, proc);
}

/** A server whose log (its stdout, piped) is read for warnings. */
export function watched(name: string, proc: Subprocess<'ignore', 'pipe', 'inherit'>): Server {
  const warnings = new Map<string, number>();
  const logRead = countWarnings(proc.stdout, warnings).catch(() => {});
  return { name, proc, warnings, logRead };
}

/**
 * Reads a server's log (one JSON object per line, pino's) and counts the
 * lines at warn level or above by message. A benchmark that hid them once reported a run in which the list of
 * sessions was dropping entries (bench/RESULTS.md).
 */
async function countWarnings(
  stream: ReadableStream<Uint8Array>,
  into: Map<string, number>,
): Promise<void> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    rest += decoder.decode(value, { stream: true });
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line === '') continue;
      let entry: { level?: unknown; msg?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue; // Not pino's (the "usermgr is up" line); a crash goes to stderr.
      }
      const level = Number(entry.level);
      const message = String(entry.msg);
      if (level >= 40) into.set(message, (into.get(message) ?? 0) + 1);
    }
  }
}

/** The warnings the servers logged, as `"<server>: <message>": count`. */
export function serverWarnings(servers: readonly Server[]): Record<string, number> {
  const all: Record<string, number> = {};
  for (const { name, warnings } of servers)
    for (const [message, count] of warnings)
      all[`${name}: ${message}`] = (all[`${name}: ${message}`] ?? 0) + count;
  return all;
}

export async function stopServers(servers: Server[]): Promise<void> {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
  await Promise.all(servers.map((s) => s.proc.exited));
}

/**
 * Tries `probe` until it answers true (a throw counts as false), failing at
 * once, with its name, when one of `servers` has exited.
 */
async function pollUntil(
  servers: Server[],
  timeoutMs: number,
  intervalMs: number,
  probe: () => Promise<boolean>,
  failure: string,
): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const dead = servers.find((s) => s.proc.exitCode !== null);
    if (dead) throw new Error(`the ${dead.name} server exited with code ${dead.proc.exitCode}`);
    if (await probe().catch(() => false)) return;
    await Bun.sleep(intervalMs);
  }
  throw new Error(`${failure} within ${timeoutMs} ms`);
}

/** Waits until GET `url` answers 200, or fails naming the servers that died. */
export function waitUntilReady(url: string, servers: Server[], timeoutMs = 30_000): Promise<void> {
  return pollUntil(
    servers,
    timeoutMs,
    100,
    async () => (await fetch(url)).status === 200,
    `${url} did not answer 200`,
  );
}

/** Waits until 127.0.0.1:`port` accepts a connection. */
export function waitForPort(port: number, servers: Server[], timeoutMs = 30_000): Promise<void> {
  return pollUntil(
    servers,
    timeoutMs,
    50,
    async () => {
      const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
      socket.end();
      return true;
    },
    `nothing accepted connections on port ${port}`,
  );
}

/**
 * Refuses a port something already listens on. Another stack's servers there
 * would answer this run's load (an HTTP port is shared with SO_REUSEPORT, and
 * waitForPort would take another TCP server for ours), so its figures would
 * be theirs.
 */
export async function requireFreePort(port: number, option: string): Promise<void> {
  const inUse = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
    (socket) => {
      socket.end();
      return true;
    },
    () => false,
  );
  if (inUse)
    throw new Error(
      `port ${port} on 127.0.0.1 is in use (another stack or bench?): stop it, or pick other ports with ${option}`,
    );
}

/** CPU seconds (user + system) a process has used so far, or 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** Resident memory of a process in MB. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

/** Pids of running programs with this exact name. */
export function pidsOf(program: string): number[] {
  const proc = Bun.spawnSync(['pidof', program]);
  return new TextDecoder().decode(proc.stdout).trim().split(/\s+/).filter(Boolean).map(Number);
}

/** CPU used by named groups of processes between start() and stop(), as % of one core. */
export class CpuMeter {
  private before = new Map<string, number>();
  private started = 0;

  constructor(private readonly groups: Record<string, () => number[]>) {}

  start(): void {
    this.started = performance.now();
    for (const [name, pids] of Object.entries(this.groups))
      this.before.set(name, this.total(pids()));
  }

  /** % of one core per group over the measured time (200 % = both cores of this machine). */
  stop(): Record<string, number> {
    const seconds = (performance.now() - this.started) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups)) {
      out[name] = Math.round(((this.total(pids()) - (this.before.get(name) ?? 0)) / seconds) * 100);
    }
    return out;
  }

  private total(pids: number[]): number {
    return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  }
}
