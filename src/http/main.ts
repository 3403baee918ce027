import { loadHttpConfig } from '../config/http-config.ts';
import { createLogger } from '../log.ts';
import {
  announceWhenReady,
  loadConfigOrExit,
  onShutdown,
  requireFreePorts,
  startOrExit,
} from '../process.ts';
import { startHttpApp } from './start.ts';

const config = loadConfigOrExit(() => loadHttpConfig());
const { host, port, reusePort } = config.http;
const ports = [{ variable: 'HTTP_PORT', host, port }];
// A shared port is shared on purpose (the launcher or systemd runs several);
// whoever runs them makes sure it is not shared with anything else.
if (!reusePort) await requireFreePorts(ports);
const app = await startOrExit(() => startHttpApp(config, createLogger('http', config.logLevel)), {
  ports,
});
let stopping = false;
// Under `npm start` the launcher says when the stack is up, once for all HTTP
// servers; it cannot know a random port (HTTP_PORT=0), so then this one does.
if (process.env.USERMGR_SUPERVISED !== '1' || port === 0)
  void announceWhenReady(app.url, () => stopping);
onShutdown(() => {
  stopping = true;
  return app.stop();
});
