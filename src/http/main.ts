import { loadHttpConfig } from '../config/http-config.ts';
import { createLogger } from '../log.ts';
import { loadConfigOrExit, onShutdown } from '../process.ts';
import { startHttpApp } from './start.ts';

const config = loadConfigOrExit(() => loadHttpConfig());
const app = startHttpApp(config, createLogger('http', config.logLevel));
console.log(`usermgr is up: ${app.url}`);
onShutdown(app.stop);
