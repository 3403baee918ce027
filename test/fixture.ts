/**
 * The one fixture factory: starts the real stack (TCP server, then HTTP server
 * with its pool pointed at it) on port 0, in this process, and stops it.
 * Every integration test builds on it.
 */
import { type Env, loadConfig } from '../src/config.ts';
import { startHttpApp } from '../src/http/start.ts';
import { type Logger, silentLogger } from '../src/log.ts';
import { startTcpApp } from '../src/tcp/start.ts';

export interface Stack {
  /** Base URL of the HTTP server, with a trailing slash. */
  url: string;
  tcpPort: number;
  tcp: Awaited<ReturnType<typeof startTcpApp>>;
  http: ReturnType<typeof startHttpApp>;
  /** fetch() relative to the stack's URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra environment, as the servers would read it. */
  env?: Env;
  log?: Logger;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? silentLogger;
  const base: Env = { LOG_LEVEL: 'silent', SHUTDOWN_TIMEOUT_MS: '2000', ...options.env };
  const tcp = await startTcpApp(loadConfig({ ...base, TCP_PORT: '0' }), log);
  const http = startHttpApp(
    loadConfig({ ...base, HTTP_PORT: '0', TCP_ADDRS: `127.0.0.1:${tcp.server.port}` }),
    log,
  );
  const url = http.url;
  return {
    url,
    tcpPort: tcp.server.port,
    tcp,
    http,
    fetch: (path, init) => fetch(new URL(path, url), init),
    async stop() {
      await http.stop();
      await tcp.stop();
    },
  };
}
