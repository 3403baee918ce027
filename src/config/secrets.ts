/**
 * The secrets only the TCP server holds: the session signing secrets, the
 * keys that seal two-step login secrets and the admin API's token. The HTTP
 * server never reads them. And the one secret both hold: TCP_SHARED_SECRET,
 * with which each proves itself to the other.
 */
import type { Reader } from './reader.ts';
import { int, list, text } from './variable.ts';

const MIN_SECRET_CHARS = 32;

export const sessionVariables = {
  secrets: list('SESSION_SECRET', {
    secret: true,
    doc: 'signing secrets, at least 32 characters, comma-separated, newest first',
  }),
  ttlS: int('SESSION_TTL_S', {
    default: 86_400,
    min: 60,
    max: 86_400 * 365,
    doc: 'lifetime of a session without "keep me logged in", renewed while used',
  }),
  rememberTtlS: int('SESSION_REMEMBER_TTL_S', {
    default: 30 * 86_400,
    min: 60,
    max: 86_400 * 365,
    doc: 'lifetime of a "keep me logged in" session, renewed while used',
  }),
  deviceTtlS: int('DEVICE_COOKIE_TTL_S', {
    default: 30 * 86_400,
    min: 60,
    max: 86_400 * 365,
    doc: 'device cookie lifetime (a browser that logged in is judged by its own failures)',
  }),
};

export const totpVariables = {
  keys: list('TOTP_KEYS', {
    secret: true,
    doc:
      'keys that seal two-step login secrets in the store, at least 32 characters, ' +
      'comma-separated, newest first; unset: derived from SESSION_SECRET',
  }),
};

export const adminVariables = {
  /** Bearer token of the admin API (/users); '' turns that API off (404). */
  token: text('ADMIN_TOKEN', {
    default: '',
    secret: true,
    doc: 'bearer token of the admin API (/users), at least 32 characters; unset: off (404)',
  }),
};

export const linkVariables = {
  sharedSecrets: list('TCP_SHARED_SECRET', {
    secret: true,
    doc: 'proves the HTTP and TCP servers to each other; at least 32 characters, comma-separated, newest first',
  }),
};

/**
 * TCP_SHARED_SECRET, newest first: the pool proves itself with the first,
 * a TCP server accepts a proof made with any (so a new secret can be rolled
 * out to the TCP servers before the HTTP servers use it).
 */
export function readSharedSecrets(read: Reader): readonly string[] {
  const secrets = read.read(linkVariables.sharedSecrets);
  if (secrets.some((secret) => secret.length < MIN_SECRET_CHARS)) {
    read.problem(
      linkVariables.sharedSecrets,
      '',
      'secrets of at least 32 characters (e.g. `openssl rand -base64 32`), comma-separated (newest first)',
    );
  }
  return secrets;
}

export function readSecrets(read: Reader) {
  const sessions = read.all(sessionVariables);
  if (sessions.secrets.some((secret) => secret.length < MIN_SECRET_CHARS)) {
    read.problem(
      sessionVariables.secrets,
      '',
      'secrets of at least 32 characters, comma-separated (newest first)',
    );
  }
  // Not when either was refused: SESSION_TTL_S=40 also said "SESSION_REMEMBER_TTL_S=80:
  // expected at least SESSION_TTL_S (86400)", a default nobody set (an operator's audit).
  const { ttlS, rememberTtlS } = sessionVariables;
  if (read.usable(ttlS, rememberTtlS) && sessions.rememberTtlS < sessions.ttlS) {
    read.problem(
      sessionVariables.rememberTtlS,
      String(sessions.rememberTtlS),
      `at least SESSION_TTL_S (${sessions.ttlS}): "keep me logged in" must not end sooner than a session without it`,
    );
  }
  const totp = read.all(totpVariables);
  if (totp.keys.some((key) => key.length < MIN_SECRET_CHARS)) {
    read.problem(
      totpVariables.keys,
      '',
      'keys of at least 32 characters, comma-separated (newest first), or unset',
    );
  }
  const admin = read.all(adminVariables);
  if (admin.token !== '' && admin.token.length < MIN_SECRET_CHARS) {
    read.problem(
      adminVariables.token,
      '',
      'at least 32 characters (e.g. `openssl rand -base64 32`), or unset to turn the admin API off',
    );
  }
  return { sessions, totp, admin };
}
