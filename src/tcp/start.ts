import { hostname } from 'node:os';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { createDispatch, type Handlers } from './dispatch.ts';
import { startTcpServer, type TcpServer } from './server.ts';

export interface TcpApp {
  server: TcpServer;
  serverId: string;
  /** Graceful: stop accepting, finish in-flight calls, release adapters. */
  stop(): Promise<void>;
}

/** Wires the services to their adapters and starts listening. Used by main.ts and the tests. */
export async function startTcpApp(config: Config, log: Logger): Promise<TcpApp> {
  const serverId = `${hostname()}:${process.pid}`;
  const handlers: Handlers = {
    ping: () => ({ serverId }),
  };
  const server = startTcpServer(
    { ...config.tcp, maxFrameBytes: config.maxFrameBytes },
    createDispatch(handlers, log),
    log,
  );
  log.info({ host: config.tcp.host, port: server.port }, 'tcp server listening');
  return {
    server,
    serverId,
    stop: () => server.stop(config.shutdownTimeoutMs),
  };
}
