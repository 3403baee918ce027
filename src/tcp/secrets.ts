import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';

/**
 * The session signing secrets: SESSION_SECRET when set (newest first);
 * otherwise one random secret created on first start and kept in
 * DATA_DIR/session-secret (mode 0600), so that sessions survive restarts of
 * a single machine. Several TCP servers must share SESSION_SECRET.
 *
 * The secret also seals two-step login secrets unless TOTP_KEYS is set, so a
 * SESSION_SECRET set later that leaves the file's secret out ends every
 * session and makes every app's code unusable (recovery codes only): the
 * creation's hint said "set SESSION_SECRET", and an operator who followed it
 * with a new value found out at the first two-step login (an operator's
 * audit). So the hint says to set it to the file's value, and a start with a
 * SESSION_SECRET that leaves out a secret the file holds warns, saying how to
 * keep it (after the new one, as an older secret that still verifies).
 */
export function sessionSecrets(
  configured: readonly string[],
  dataDir: string,
  log: Logger,
  totpKeys: readonly string[] = [],
): string[] {
  const file = join(dataDir, 'session-secret');
  if (configured.length > 0) {
    const kept = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    if (kept !== '' && !configured.includes(kept))
      log.warn(
        { file, twoStepSealedWithIt: totpKeys.length === 0 },
        'SESSION_SECRET leaves out the secret this file holds, which signed the sessions until now' +
          (totpKeys.length === 0 ? ' and sealed the two-step login secrets' : '') +
          ': to keep them, add it after the new one (SESSION_SECRET=<new>,<the file>)',
      );
    return [...configured];
  }
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    log.info(
      { file },
      'created a session secret; to share it between servers, set SESSION_SECRET to the content ' +
        'of this file (another value ends every session and, without TOTP_KEYS, every ' +
        "two-step login's app codes: README, Backups)",
    );
  }
  chmodSync(file, 0o600);
  return [readFileSync(file, 'utf8').trim()];
}
