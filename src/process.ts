/** What both server processes do the same way at start and at stop. */
import { ConfigError } from './config/reader.ts';

/** Loads a process's configuration, or prints what is wrong and exits with status 2. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0 (1 if stop failed).
 * A second signal exits at once. Under `npm start` (USERMGR_SUPERVISED=1)
 * SIGINT is ignored: Ctrl-C reaches the whole process group, and the launcher
 * stops the HTTP servers before the TCP server with SIGTERM itself.
 */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err) => {
        console.error(`error while stopping on ${signal}:`, err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', process.env.USERMGR_SUPERVISED === '1' ? () => {} : handle);
}
