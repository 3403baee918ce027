import { afterEach, describe, expect, it } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { sessionSecrets } from './secrets.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-secrets-'));
  dirs.push(dir);
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { dir, lines, log };
}

const NEW = 'a-new-session-secret-of-enough-length-0123456789';

describe('unit: sessionSecrets', () => {
  it("should create the file once, private, and say to share the file's value", () => {
    const { dir, lines, log } = setup();
    const [first] = sessionSecrets([], dir, log);
    const file = join(dir, 'session-secret');
    expect(readFileSync(file, 'utf8').trim()).toBe(first as string);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(sessionSecrets([], dir, log)).toEqual([first as string]);
    expect(lines.map((l) => l.msg)).toEqual([
      'created a session secret; to share it between servers, set SESSION_SECRET to the content ' +
        'of this file (another value ends every session and, without TOTP_KEYS, every ' +
        "two-step login's app codes: README, Backups)",
    ]);
  });

  // Regression (an operator's audit): following the hint with a new value ended every
  // session and made every two-step login's app codes unusable, unannounced.
  it("should warn when SESSION_SECRET leaves out the file's secret, and not when it keeps it", () => {
    const { dir, lines, log } = setup();
    const [old] = sessionSecrets([], dir, log);
    lines.length = 0;
    expect(sessionSecrets([NEW], dir, log)).toEqual([NEW]);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe(40);
    expect(lines[0]?.msg).toBe(
      'SESSION_SECRET leaves out the secret this file holds, which signed the sessions until now ' +
        'and sealed the two-step login secrets: to keep them, add it after the new one ' +
        '(SESSION_SECRET=<new>,<the file>)',
    );
    lines.length = 0;
    expect(sessionSecrets([NEW, old as string], dir, log)).toEqual([NEW, old as string]);
    expect(lines).toEqual([]);
    // With TOTP_KEYS the two-step secrets are not the file's business.
    sessionSecrets([NEW], dir, log, ['a-totp-key-of-enough-length-0123456789']);
    expect(lines[0]?.msg).not.toContain('two-step');
  });
});
