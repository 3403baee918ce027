/**
 * `npm start` reads both servers' configurations, so that a bad value stops
 * it before any process starts, with every problem of both listed once.
 */
import { httpVariables } from './http.ts';
import { readHttpConfig } from './http-config.ts';
import { load, type Reader } from './reader.ts';
import { tcpVariables } from './tcp.ts';
import { readTcpConfig } from './tcp-config.ts';
import type { Env, Variable } from './variable.ts';

/** The ports `npm start` listens on, by variable: each must be its own (0: any free one). */
const LISTENING: readonly Variable<number>[] = [
  httpVariables.port,
  httpVariables.metricsPort,
  tcpVariables.port,
  tcpVariables.metricsPort,
];

export function loadLauncherConfig(env: Env = process.env) {
  return load(env, (read) => {
    const tcp = readTcpConfig(read);
    const http = readHttpConfig(read);
    checkPortsApart(read);
    return {
      tcp: tcp.tcp,
      http: http.http,
      tcpAddresses: http.pool.addresses,
      metricsEnabled: http.metricsEnabled,
    };
  });
}

/**
 * Two of the ports set to one number. Each server checks that its port is
 * free, but the HTTP servers share theirs (SO_REUSEPORT), so a metrics port
 * equal to the public one was shared silently: the public port answered
 * /metrics, and pages got 404, at random (an operator audit).
 */
function checkPortsApart(read: Reader): void {
  const seen = new Map<number, Variable<number>>();
  for (const variable of LISTENING) {
    const port = read.read(variable);
    if (port === 0) continue;
    const first = seen.get(port);
    if (first === undefined) seen.set(port, variable);
    else read.problem(variable, String(port), `a port of its own: ${first.name} is ${port} too`);
  }
}
