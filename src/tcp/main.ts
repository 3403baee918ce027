import { loadTcpConfig } from '../config/tcp-config.ts';
import { createLogger } from '../log.ts';
import { loadConfigOrExit, onShutdown, requireFreePorts, startOrExit } from '../process.ts';
import { startTcpApp } from './start.ts';

const config = loadConfigOrExit(() => loadTcpConfig());
const { host, port, metricsPort } = config.tcp;
const ports = [
  { variable: 'TCP_PORT', host, port },
  { variable: 'TCP_METRICS_PORT', host, port: metricsPort },
];
await requireFreePorts(ports);
const app = await startOrExit(() => startTcpApp(config, createLogger('tcp', config.logLevel)), {
  ports,
  mysqlUrl: config.mysql.url,
  dataDir: config.dataDir,
});
onShutdown(app.stop);
// Here rather than in startTcpApp: the tests start many stacks and most never sign anyone up.
void app.passwords.warmEstimator();
