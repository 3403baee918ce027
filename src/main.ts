/**
 * `npm start`: the TCP server and the HTTP server(s) as separate processes,
 * as in production, from one command. On SIGINT or SIGTERM (to the launcher,
 * to the whole process group, or to one server, which passes it on), the
 * HTTP servers are stopped first and the TCP server only once they have
 * exited, so that requests they had accepted can still be answered; the
 * launcher exits with the first non-zero code it saw.
 *
 * A server that dies after its start (killed, crashed, out of memory) is
 * started again, after RESTART_DELAY_MS, as a supervisor would: the others
 * answer 503 for what needs it meanwhile, and the stack recovers by itself.
 * More than MAX_RESTARTS within RESTART_WINDOW_MS, or a start-up failure, is
 * not something a restart mends: the launcher then stops everything.
 *
 * The HTTP servers share their port (SO_REUSEPORT), which the kernel would
 * also grant to the servers of a second launcher, splitting requests between
 * two unrelated stacks. So a launcher first claims the port: it holds an
 * abstract Unix socket named after it (released by the kernel when the
 * launcher dies, however it dies) and checks that nothing else listens there.
 *
 * Without TCP_SHARED_SECRET the launcher makes one for this run and hands it
 * to every child, so that the HTTP servers prove themselves to the TCP server
 * and nothing else on the machine can call it, whatever TCP_HOST is.
 */
import type { Subprocess } from 'bun';
import { loadLauncherConfig } from './config/launcher-config.ts';
import { metricsCollector, serveMetrics } from './http/metrics-port.ts';
import {
  announceWhenReady,
  EXIT_STARTUP_FAILED,
  loadConfigOrExit,
  RUNTIME_ENV,
  requireFreePorts,
  SAME_STOP_MS,
  STOP_SIGNAL,
  startOrExit,
} from './process.ts';

/**
 * The children's environment: the launcher's over RUNTIME_ENV, with a shared
 * secret for this run when none is set.
 */
const childEnv: Record<string, string | undefined> = {
  ...RUNTIME_ENV,
  ...process.env,
  TCP_SHARED_SECRET:
    process.env.TCP_SHARED_SECRET ||
    Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'),
};
const config = loadConfigOrExit(() => loadLauncherConfig(childEnv));
const bun = process.execPath;
const tcpChildren: Subprocess[] = [];
const httpChildren: Subprocess[] = [];
let exiting = false;
let exitCode = 0;
const metrics = metricsCollector();

/**
 * Signals that ask a child to stop: one that dies of them before its own
 * handlers are set (still starting) did not fail.
 */
const STOPPING: readonly string[] = [STOP_SIGNAL, 'SIGTERM', 'SIGINT'];

/** Restarts of crashed servers allowed within RESTART_WINDOW_MS, all servers together. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** A pause before a restart: a server dying at once again does not spin. */
const RESTART_DELAY_MS = 500;
/** When each restart was made (performance.now()), the last RESTART_WINDOW_MS of them. */
const restarts: number[] = [];

/** Whether a crashed server may be started again now; counts the restart. */
function mayRestart(): boolean {
  const now = performance.now();
  while (restarts.length > 0 && now - (restarts[0] as number) > RESTART_WINDOW_MS) restarts.shift();
  if (restarts.length >= MAX_RESTARTS) return false;
  restarts.push(now);
  return true;
}

function spawn(
  script: string,
  group: Subprocess[],
  env: Record<string, string> = {},
  restart = false,
): void {
  // Stopping already (a signal during the start): nothing more is started,
  // since the stop has passed this group by and would leave it running.
  if (exiting) return;
  const child = Bun.spawn([bun, `${import.meta.dir}/${script}`], {
    stdio: ['inherit', 'inherit', 'inherit'],
    env: {
      ...childEnv,
      ...env,
      USERMGR_SUPERVISED: '1',
      USERMGR_LAUNCHER_PID: String(process.pid),
    },
    // The HTTP servers send their metrics this way (metrics-port.ts); the TCP server sends nothing.
    ...(group === httpChildren ? { ipc: metrics.onMessage } : {}),
    onExit(proc, code, signal) {
      const asked = typeof signal === 'string' && STOPPING.includes(signal);
      const crashed = !exiting && !asked && code !== EXIT_STARTUP_FAILED;
      if (crashed && started.has(proc) && mayRestart()) {
        const left = MAX_RESTARTS - restarts.length;
        console.error(
          `${script} exited (${code ?? signal}); starting it again (${left} more restart${left === 1 ? '' : 's'} allowed in the next minute)`,
        );
        group.splice(group.indexOf(proc), 1);
        setTimeout(() => spawn(script, group, env, true), RESTART_DELAY_MS);
        return;
      }
      // A start-up failure was already explained in one line by the child.
      if (crashed && (code !== 0 || signal)) {
        const why = started.has(proc) ? 'too many restarts' : 'it did not start';
        console.error(`${script} exited (${code ?? signal}); ${why}: stopping the others`);
      }
      void stopAll(code ?? (signal && !asked ? 1 : 0));
    },
  });
  group.push(child);
  // Started: once it has run a while, a death is a crash to mend, not a failed start.
  // A restart counts at once: the same configuration started before, so its death is
  // a crash too, bounded by MAX_RESTARTS (one that died 1.7 s after a restart, already
  // serving, stopped everything as "it did not start": an operator's audit).
  if (restart) started.add(child);
  else
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) started.add(child);
    }, STARTED_AFTER_MS).unref();
}

/** Children that have run for STARTED_AFTER_MS: past their start-up. */
const started = new WeakSet<Subprocess>();
/** How long a child must run before its death counts as a crash (restarted), not a failed start. */
const STARTED_AFTER_MS = 3000;

async function stopGroup(group: Subprocess[]): Promise<void> {
  for (const child of group)
    if (child.exitCode === null && child.signalCode === null) child.kill(STOP_SIGNAL);
  await Promise.all(group.map((child) => child.exited));
}

/** When the first SIGINT or SIGTERM came; null before. */
let signalledAt: number | null = null;

/**
 * SIGINT or SIGTERM: stop in order; a second one (a person's second Ctrl-C
 * while a stop hangs) kills what is left and exits 1. The servers pass the
 * signals they get on as STOP_SIGNAL, which only asks for the stop, so a
 * signal to the whole group counts once; and one within SAME_STOP_MS of the
 * first is the same signal relayed (by npm, by `timeout`).
 */
function onStopSignal(): void {
  if (signalledAt !== null) {
    if (performance.now() - signalledAt < SAME_STOP_MS) return;
    console.error('stopping at once (a second signal)');
    for (const child of [...httpChildren, ...tcpChildren]) child.kill('SIGKILL');
    process.exit(1);
  }
  signalledAt = performance.now();
  console.log(
    'stopping: the HTTP servers, then the TCP server (signal again after a second to stop at once)',
  );
  void stopAll(0);
}

async function stopAll(code: number): Promise<void> {
  if (code !== 0 && exitCode === 0) exitCode = code;
  if (exiting) return;
  exiting = true;
  await stopGroup(httpChildren);
  await stopGroup(tcpChildren);
  process.exit(exitCode);
}

async function waitForTcp(port: number, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  const host =
    config.tcp.host === '0.0.0.0' || config.tcp.host === '::' ? '127.0.0.1' : config.tcp.host;
  while (performance.now() < until && !exiting) {
    try {
      const socket = await Bun.connect({ hostname: host, port, socket: { data() {} } });
      socket.end();
      return true;
    } catch {
      await Bun.sleep(50);
    }
  }
  return false;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, onStopSignal);
// A server passing on a signal it got (process.ts, onShutdown).
process.on(STOP_SIGNAL, () => void stopAll(0));

/**
 * Fails (one line, EXIT_STARTUP_FAILED) when another launcher holds the HTTP
 * port. The claim lasts as long as this process.
 */
function claimHttpPort(): void {
  const { port } = config.http;
  // Abstract sockets are Linux's; elsewhere the port probe below is the only check.
  if (port === 0 || process.platform !== 'linux') return;
  try {
    Bun.listen({ unix: `\0usermgr-launcher-http-port-${port}`, socket: { data() {} } });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    console.error(
      `port ${port} is taken by another usermgr launcher (npm start): stop it, or set HTTP_PORT to a free port`,
    );
    process.exit(EXIT_STARTUP_FAILED);
  }
}

if (config.tcp.port === 0) {
  console.error(
    'TCP_PORT=0 cannot be used with npm start: the HTTP server must know the port. Set TCP_PORT.',
  );
  process.exit(2);
}
claimHttpPort();
const metricsPorts = config.metricsEnabled
  ? [{ variable: 'HTTP_METRICS_PORT', host: config.http.host, port: config.http.metricsPort }]
  : [];
// Every port the children will listen on, checked before any of them starts.
await requireFreePorts([
  { variable: 'HTTP_PORT', host: config.http.host, port: config.http.port },
  { variable: 'TCP_PORT', host: config.tcp.host, port: config.tcp.port },
  { variable: 'TCP_METRICS_PORT', host: config.tcp.host, port: config.tcp.metricsPort },
  ...metricsPorts,
]);
// One /metrics for every HTTP server, whichever of them served a request.
if (config.metricsEnabled)
  await startOrExit(
    () =>
      serveMetrics({ host: config.http.host, port: config.http.metricsPort }, () =>
        metrics.collect(httpChildren),
      ),
    { ports: metricsPorts },
  );
spawn('tcp/main.ts', tcpChildren);
if (!(await waitForTcp(config.tcp.port, 30_000))) {
  if (!exiting) console.error(`the TCP server did not start listening on port ${config.tcp.port}`);
  void stopAll(1);
} else {
  // Several HTTP processes share the port; the kernel spreads connections over them.
  // They can only share one that is set in advance: HTTP_PORT=0 gets one process.
  const processes = config.http.port === 0 ? 1 : config.http.processes;
  if (processes < config.http.processes)
    console.warn('HTTP_PORT=0: running one HTTP server (several can only share a set port)');
  const env: Record<string, string> = processes > 1 ? { HTTP_REUSE_PORT: 'true' } : {};
  for (let i = 0; i < processes; i++) spawn('http/main.ts', httpChildren, env);
  // With HTTP_PORT=0 only the HTTP server knows its port, and it announces itself.
  if (config.http.port !== 0) {
    /** `http://host:port/`: a wildcard address is reached at 127.0.0.1, an IPv6 one in brackets. */
    const base = (host: string, port: number) => {
      const h = ['0.0.0.0', '::'].includes(host) ? '127.0.0.1' : host;
      return `http://${h.includes(':') ? `[${h}]` : h}:${port}/`;
    };
    const url = base(config.http.host, config.http.port);
    // The launcher started the TCP server and saw it listen: a pool that reaches
    // none was pointed elsewhere.
    const tcpAt = base(config.tcp.host, config.tcp.port).slice('http://'.length, -1);
    const hint = (reason: string) =>
      reason.includes('no TCP server is reachable')
        ? ` (the TCP server listens on ${tcpAt}: check TCP_ADDRS, now ${config.tcpAddresses.join(',')})`
        : '';
    // Where the metrics are: the servers' own lines cannot say (the HTTP servers'
    // are served by this process; an operator audit found `"metricsUrl":null`).
    const where = config.metricsEnabled
      ? [
          [config.http.host, config.http.metricsPort, 'HTTP servers'] as const,
          [config.tcp.host, config.tcp.metricsPort, 'TCP server'] as const,
        ]
          // Port 0: a port of the system's choosing, which this process does not learn.
          .filter(([, port]) => port > 0)
          .map(([host, port, whose]) => `${base(host, port)}metrics (${whose})`)
      : [];
    const also = where.length > 0 ? [`metrics: ${where.join(', ')}`] : [];
    void announceWhenReady(url, () => exiting, hint, also);
  }
}
