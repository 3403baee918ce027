/**
 * `npm start` reads both servers' configurations, so that a bad value stops
 * it before any process starts, with every problem of both listed once.
 */
import { readHttpConfig } from './http-config.ts';
import { load } from './reader.ts';
import { readTcpConfig } from './tcp-config.ts';
import type { Env } from './variable.ts';

export function loadLauncherConfig(env: Env = process.env) {
  return load(env, (read) => {
    const tcp = readTcpConfig(read);
    const http = readHttpConfig(read);
    return {
      tcp: tcp.tcp,
      http: http.http,
      tcpAddresses: http.pool.addresses,
      metricsEnabled: http.metricsEnabled,
    };
  });
}
