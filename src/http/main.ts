import { loadHttpConfig } from '../config/http-config.ts';
import { createLogger } from '../log.ts';
import {
  announceWhenReady,
  loadConfigOrExit,
  onShutdown,
  requireFreePorts,
  startOrExit,
} from '../process.ts';
import { answerMetricsRequests } from './metrics-port.ts';
import { startHttpApp } from './start.ts';

const config = loadConfigOrExit(() => loadHttpConfig());
const { host, port, reusePort, metricsPort } = config.http;
// Under `npm start` the launcher serves the metrics of all its HTTP servers at once.
const supervised = process.env.USERMGR_SUPERVISED === '1';
const ownMetricsPort = config.metricsEnabled && !supervised;
const ports = [{ variable: 'HTTP_PORT', host, port }];
const metricsPorts = ownMetricsPort
  ? [{ variable: 'HTTP_METRICS_PORT', host, port: metricsPort }]
  : [];
// A shared port is shared on purpose (the launcher or systemd runs several);
// whoever runs them makes sure it is not shared with anything else. The
// metrics port is each process's own.
await requireFreePorts(reusePort ? metricsPorts : [...ports, ...metricsPorts]);
const app = await startOrExit(
  () => startHttpApp(config, createLogger('http', config.logLevel), ownMetricsPort),
  { ports: [...ports, ...metricsPorts] },
);
if (supervised && app.metrics) answerMetricsRequests(app.metrics);
let stopping = false;
// Under `npm start` the launcher says when the stack is up, once for all HTTP
// servers; it cannot know a random port (HTTP_PORT=0), so then this one does.
if (!supervised || port === 0) void announceWhenReady(app.url, () => stopping);
onShutdown(() => {
  stopping = true;
  return app.stop();
});
