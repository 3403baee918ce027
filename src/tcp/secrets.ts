import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';

/**
 * The session signing secrets: SESSION_SECRET when set (newest first);
 * otherwise one random secret created on first start and kept in
 * DATA_DIR/session-secret (mode 0600), so that sessions survive restarts of
 * a single machine. Several TCP servers must share SESSION_SECRET.
 */
export function sessionSecrets(
  configured: readonly string[],
  dataDir: string,
  log: Logger,
): string[] {
  if (configured.length > 0) return [...configured];
  const file = join(dataDir, 'session-secret');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    log.info(
      { file },
      'created a session secret (set SESSION_SECRET to share one between servers)',
    );
  }
  chmodSync(file, 0o600);
  return [readFileSync(file, 'utf8').trim()];
}
