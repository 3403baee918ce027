/**
 * `npm start`: the TCP server and the HTTP server as two processes, as in
 * production, from one command. Signals are forwarded to both; when one
 * process exits, the other is stopped and the launcher exits with its code.
 */
import type { Subprocess } from 'bun';
import { loadConfigOrExit } from './process.ts';

const config = loadConfigOrExit();
const bun = process.execPath;
const children: Subprocess[] = [];
let exiting = false;

function spawn(script: string, env: Record<string, string> = {}): Subprocess {
  const child = Bun.spawn([bun, `${import.meta.dir}/${script}`], {
    stdio: ['inherit', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
    onExit(_proc, exitCode, signalCode) {
      stopAll(exitCode ?? (signalCode ? 1 : 0));
    },
  });
  children.push(child);
  return child;
}

function stopAll(code: number): void {
  if (exiting) return;
  exiting = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  Promise.all(children.map((child) => child.exited)).then(() => process.exit(code));
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

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  });
}

if (config.tcp.port === 0) {
  console.error(
    'TCP_PORT=0 cannot be used with npm start: the HTTP server must know the port. Set TCP_PORT.',
  );
  process.exit(2);
}
spawn('tcp/main.ts');
if (!(await waitForTcp(config.tcp.port, 30_000))) {
  if (!exiting) console.error(`the TCP server did not start listening on port ${config.tcp.port}`);
  stopAll(1);
} else {
  // Several HTTP processes share the port; the kernel spreads connections over them.
  const env: Record<string, string> = config.http.processes > 1 ? { HTTP_REUSE_PORT: 'true' } : {};
  for (let i = 0; i < config.http.processes; i++) spawn('http/main.ts', env);
}
