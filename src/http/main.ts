import { createLogger } from '../log.ts';
import { loadConfigOrExit, onShutdown } from '../process.ts';
import { startHttpApp } from './start.ts';

const config = loadConfigOrExit();
const app = startHttpApp(config, createLogger('http', config.logLevel));
console.log(`usermgr is up: ${app.url}`);
onShutdown(app.stop);
