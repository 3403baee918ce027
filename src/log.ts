import pino from 'pino';

/** Structured JSON lines. The pino interface, so that tests can pass a silent one. */
export type Logger = pino.Logger;

export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    // Defence in depth: these never belong in a log line, whoever passes them.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'passwordHash', '*.passwordHash'],
      censor: '[redacted]',
    },
  });
}

export const silentLogger: Logger = pino({ level: 'silent' });
