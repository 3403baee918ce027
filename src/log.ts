import pino from 'pino';

/** Structured JSON lines. The pino interface, so that tests can pass a silent one. */
export type Logger = pino.Logger;

/** A pino logger; `destination` is for tests that read what was logged. */
export function createLogger(
  name: string,
  level: string,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid },
    // Defence in depth: these never belong in a log line, whoever passes them.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'passwordHash', '*.passwordHash'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const silentLogger: Logger = pino({ level: 'silent' });
