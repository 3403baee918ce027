import pino from 'pino';

/** Structured JSON lines. The pino interface, so that tests can pass a silent one. */
export type Logger = pino.Logger;

/** Keys whose values are credentials: a password, a session, admin or anti-CSRF token, a key, a shared secret. */
const SECRET_KEYS = [
  'password',
  'passwordHash',
  'token',
  'adminToken',
  'currentToken',
  'csrfToken',
  'secretAccessKey',
  'authorization',
  'sharedSecret',
  'sharedSecrets',
];

/** Each secret key at the top of a log line and one level down (`{ auth: { token } }`), and request headers. */
const REDACTED_PATHS = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
];

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
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const silentLogger: Logger = pino({ level: 'silent' });
