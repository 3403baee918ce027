/** What both server processes do the same way at start and at stop. */
import { ConfigError } from './config/reader.ts';
import { unknownVariableWarnings } from './config/unknown.ts';
import { explainStartupFailure, type PortSetting, type StartupContext } from './startup-failure.ts';

/**
 * Loads a process's configuration, or prints what is wrong and exits with
 * status 2. Then warns about each variable that looks meant for usermgr but
 * is not one (config/unknown.ts); under `npm start` the launcher alone does.
 */
export function loadConfigOrExit<T>(load: () => T): T {
  let config: T;
  try {
    config = load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  if (process.env.USERMGR_SUPERVISED !== '1')
    for (const line of unknownVariableWarnings(process.env)) console.error(line);
  return config;
}

/**
 * The signal with which the launcher (`npm start`) tells one of its servers
 * to stop. Not SIGTERM: a SIGTERM to the whole process group (systemd's
 * default `KillMode=control-group`, `timeout`, `kill -- -<pgid>`) reaches
 * every server at once as well as the launcher, and the servers must stop in
 * the launcher's order instead, the HTTP servers before the TCP server.
 */
export const STOP_SIGNAL = 'SIGUSR2';

/**
 * A second SIGINT or SIGTERM within this long of the first is the same stop,
 * not a person's second Ctrl-C: npm passes a signal on to its child, and
 * `timeout` signals its child and the child's group, so one Ctrl-C or one
 * expiry arrives twice within milliseconds (it killed everything at once in
 * 5 of 5 runs under `timeout`, an operator audit).
 */
export const SAME_STOP_MS = 1000;

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0 (1 if stop failed).
 * A second signal, SAME_STOP_MS or more after the first, exits at once.
 *
 * Under `npm start` (USERMGR_SUPERVISED=1) the launcher decides when each
 * server stops: SIGTERM or SIGINT, whether sent to this process alone or to
 * the whole group (Ctrl-C), is passed on to the launcher as STOP_SIGNAL, and
 * the launcher stops the HTTP servers first and the TCP server once they
 * have exited, each with STOP_SIGNAL; a second SIGINT or SIGTERM to the
 * launcher kills them all at once. Stopping at once instead cut requests in
 * flight: the TCP server went before the HTTP servers that still needed it,
 * and the second SIGTERM (the group's and the launcher's) made a server exit
 * mid-request.
 * A server whose launcher is gone (its parent is no longer the launcher,
 * whose pid the launcher gives in USERMGR_LAUNCHER_PID) stops on the signal
 * itself, and stops by itself within a second when it finds the launcher
 * gone (killed with SIGKILL, say): it would otherwise keep the ports.
 */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  let stoppingSince = 0;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (performance.now() - stoppingSince >= SAME_STOP_MS) process.exit(1);
      return;
    }
    stopping = true;
    stoppingSince = performance.now();
    stop().then(
      () => process.exit(0),
      (err) => {
        console.error(`error while stopping on ${signal}:`, err);
        process.exit(1);
      },
    );
  };
  // From the launcher, not process.ppid now: the launcher may be gone already
  // (this runs after the server's start), and the parent then is init or a
  // subreaper, which must never get our SIGTERM.
  const launcher = Number(process.env.USERMGR_LAUNCHER_PID);
  if (process.env.USERMGR_SUPERVISED !== '1' || !(launcher > 1)) {
    process.on('SIGTERM', handle);
    process.on('SIGINT', handle);
    return;
  }
  const launcherAlive = () => process.ppid === launcher;
  // Passed on as STOP_SIGNAL: the launcher tells it from a person's second
  // Ctrl-C, which stops everything at once.
  const passOn = (signal: NodeJS.Signals) => {
    if (launcherAlive()) process.kill(launcher, STOP_SIGNAL);
    else if (!stopping) handle(signal);
  };
  process.on('SIGTERM', passOn);
  process.on('SIGINT', passOn);
  process.on(STOP_SIGNAL, handle);
  const orphaned = setInterval(() => {
    if (!launcherAlive() && !stopping) handle('SIGTERM');
  }, ORPHAN_CHECK_MS);
  orphaned.unref();
}

/** How often a server under the launcher checks that the launcher is still there. */
const ORPHAN_CHECK_MS = 1000;

/**
 * The environment the servers run best with: `npm start` gives it to its
 * children (an operator's own value wins), and the deploy files set it.
 * mimalloc, Bun's allocator, hands freed pages back to the system (madvise)
 * 10 ms after they are freed, and the process faults them in again when it
 * allocates: under load that took about a third of each server's CPU per
 * request (bench/RESULTS.md, "The allocator"). Never handing them back keeps
 * each process at its peak resident size instead (about 80 MB more for the
 * TCP server and 30 MB for an HTTP server at 1000 connections). It is read
 * when the process starts, so it cannot be set from .env or the code.
 */
export const RUNTIME_ENV = { MIMALLOC_PURGE_DELAY: '-1' } as const;

/** Exit status of a start-up failure that was explained in one line (the launcher adds nothing). */
export const EXIT_STARTUP_FAILED = 3;

/**
 * Runs `start`; a known start-up failure (a port in use, a missing database,
 * ...) prints one line saying what to do and exits EXIT_STARTUP_FAILED,
 * without a stack trace. Anything else is thrown on.
 */
export async function startOrExit<T>(
  start: () => T | Promise<T>,
  context: StartupContext,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const line = explainStartupFailure(err, context);
    if (line === null) throw err;
    console.error(line);
    process.exit(EXIT_STARTUP_FAILED);
  }
}

/**
 * Exits (one line, EXIT_STARTUP_FAILED) unless every port can be bound by
 * this process alone. Bun's own listeners may carry SO_REUSEPORT (Bun 1.4
 * sets it on some Bun.serve sockets without being asked), and then a second
 * server on the same port binds without an error and silently takes half the
 * connections. A probe bound with Bun.listen does not set it, so it fails
 * against any listener, shared or not. Port 0 is skipped.
 */
export async function requireFreePorts(ports: readonly PortSetting[]): Promise<void> {
  for (const setting of ports) {
    if (setting.port === 0) continue;
    const { host, port } = setting;
    await startOrExit(
      () => Bun.listen({ hostname: host, port, socket: { data() {} } }).stop(true),
      {
        ports: [setting],
      },
    );
  }
}

/** How long the stack may take to become ready before the reason is printed. */
const READY_PATIENCE_MS = 10_000;

/** Why `url`/readyz does not answer 200, or null when it does. */
async function notReadyReason(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}readyz`, { signal: AbortSignal.timeout(3000) });
    if (res.status === 200) return null;
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    return body?.error?.message ?? `/readyz answered ${res.status}`;
  } catch (err) {
    return `no answer from ${url}readyz (${(err as Error).message})`;
  }
}

/**
 * Prints "usermgr is up: <url>" once, when /readyz of the whole stack (the
 * HTTP server, and through it a TCP server and its store) answers 200, then
 * the lines `also` (where the metrics are). If it
 * has not after READY_PATIENCE_MS, prints why once (and what `hint` adds to
 * it) and keeps waiting.
 * Stops when `gaveUp()` turns true (the stack is stopping).
 */
export async function announceWhenReady(
  url: string,
  gaveUp: () => boolean,
  hint: (reason: string) => string = () => '',
  also: readonly string[] = [],
): Promise<void> {
  const complainAt = performance.now() + READY_PATIENCE_MS;
  let complained = false;
  while (!gaveUp()) {
    const reason = await notReadyReason(url);
    if (gaveUp()) return;
    if (reason === null) {
      console.log(`usermgr is up: ${url}`);
      for (const line of also) console.log(line);
      return;
    }
    if (!complained && performance.now() >= complainAt) {
      complained = true;
      console.error(`usermgr is not ready yet at ${url}: ${reason}${hint(reason)}`);
    }
    await Bun.sleep(200);
  }
}
