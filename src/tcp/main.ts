import { loadTcpConfig } from '../config/tcp-config.ts';
import { createLogger } from '../log.ts';
import { loadConfigOrExit, onShutdown } from '../process.ts';
import { startTcpApp } from './start.ts';

const config = loadConfigOrExit(() => loadTcpConfig());
const app = await startTcpApp(config, createLogger('tcp', config.logLevel));
onShutdown(app.stop);
