/**
 * Embedded mode keeps the password hashes private: DATA_DIR is 0700 and every
 * file in it 0600 whatever the umask, and looser modes found at start are
 * tightened with a warning. Regression: under umask 022 the SQLite file, its
 * -wal and -shm were 0644 and DATA_DIR 0755, so another local user could read
 * an argon2id hash out of the WAL.
 */

import { Database } from 'bun:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pino from 'pino';
import { type Stack, signUp, startStack } from './fixture.ts';
import { png } from './support/images.ts';

let root: string;
let umask: number;

beforeEach(() => {
  umask = process.umask(0o022);
  root = mkdtempSync(join(tmpdir(), 'usermgr-data-dir-'));
});

afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

/** Every directory and file under `dir` (itself included) with its permission bits, in octal. */
function modes(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  const visit = (path: string) => {
    const stat = lstatSync(path);
    found[relative(dir, path) || '.'] = (stat.mode & 0o777).toString(8);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return found;
}

function expectPrivate(dir: string) {
  const found = modes(dir);
  for (const [path, mode] of Object.entries(found)) {
    const isDir = lstatSync(join(dir, path)).isDirectory();
    expect({ path, mode }).toEqual({ path, mode: isDir ? '700' : '600' });
  }
  return found;
}

/** Signs up, logs in, uploads a picture and logs out: every kind of file DATA_DIR gets. */
async function useEverything(stack: Stack) {
  const fetch = stack.fetch;
  const token = await signUp(stack, 'mode_check');
  const auth = { authorization: `Bearer ${token}` };
  const upload = await fetch('/api/v1/me/picture', {
    method: 'PUT',
    headers: auth,
    body: await png(211, 97),
  });
  expect(upload.status).toBe(200);
  expect((await fetch('/api/v1/logout', { method: 'POST', headers: auth })).status).toBe(200);
}

describe('integration: DATA_DIR modes under umask 022', () => {
  it('should create DATA_DIR 0700 and every file in it 0600', async () => {
    const dataDir = join(root, 'data');
    const stack = await startStack({ env: { DATA_DIR: dataDir } });
    try {
      await useEverything(stack);
      const found = expectPrivate(dataDir);
      // The files that hold hashes, the secret and pictures were all there to be checked.
      expect(Object.keys(found)).toEqual(
        expect.arrayContaining([
          'usermgr.sqlite',
          'usermgr.sqlite-wal',
          'usermgr.sqlite-shm',
          'session-secret',
          'pictures',
        ]),
      );
      expect(Object.keys(found).some((p) => p.endsWith('.webp'))).toBe(true);
    } finally {
      await stack.stop();
    }
  });

  it('should tighten looser modes found at start and name them in a warning', async () => {
    const dataDir = join(root, 'data');
    mkdirSync(join(dataDir, 'pictures', 'ab'), { recursive: true });
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, 'pictures', 'ab', `${'ab'.padEnd(64, '0')}.webp`), 'old picture');
    writeFileSync(join(dataDir, 'session-secret'), `${'s'.repeat(48)}\n`);
    // A database written as before, still open: its -wal and -shm exist, 0644 like the file.
    const old = new Database(join(dataDir, 'usermgr.sqlite'), { create: true });
    old.run('PRAGMA journal_mode = WAL');
    old.run('CREATE TABLE IF NOT EXISTS leftover (x)');
    old.run('INSERT INTO leftover VALUES (1)');
    const before = modes(dataDir);
    expect(before).toMatchObject({
      '.': '755',
      'usermgr.sqlite': '644',
      'usermgr.sqlite-wal': '644',
      'usermgr.sqlite-shm': '644',
      'session-secret': '644',
      pictures: '755',
    });

    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const stack = await startStack({ env: { DATA_DIR: dataDir }, log });
    try {
      old.close();
      const warnings = lines
        .map(
          (line) =>
            JSON.parse(line) as {
              level: number;
              msg: string;
              tightened?: { path: string; was: string }[];
              count?: number;
            },
        )
        .filter((entry) => entry.tightened !== undefined);
      expect(warnings).toHaveLength(1);
      const warning = warnings[0];
      expect(warning?.level).toBe(40);
      expect(warning?.msg).toContain('DATA_DIR');
      const named = Object.fromEntries(
        (warning?.tightened ?? []).map((t) => [relative(dataDir, t.path) || '.', t.was]),
      );
      expect(named).toMatchObject({
        '.': '0755',
        'usermgr.sqlite': '0644',
        'usermgr.sqlite-wal': '0644',
        'usermgr.sqlite-shm': '0644',
        'session-secret': '0644',
        pictures: '0755',
      });
      expect(warning?.count).toBe(Object.keys(before).length);
      await useEverything(stack);
      expectPrivate(dataDir);
    } finally {
      await stack.stop();
    }
  });

  it('should check the directory a symbolic link DATA_DIR points at', async () => {
    const target = join(root, 'volume');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    const dataDir = join(root, 'data');
    symlinkSync(target, dataDir);
    const stack = await startStack({ env: { DATA_DIR: dataDir } });
    try {
      await useEverything(stack);
      expectPrivate(target);
    } finally {
      await stack.stop();
    }
  });

  it('should say nothing when the modes are already private', async () => {
    const dataDir = join(root, 'data');
    const first = await startStack({ env: { DATA_DIR: dataDir } });
    await useEverything(first);
    await first.stop();
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const second = await startStack({ env: { DATA_DIR: dataDir }, log });
    await second.stop();
    expect(lines.some((line) => line.includes('"tightened"'))).toBe(false);
    expect(lines.some((line) => line.includes('store: SQLite'))).toBe(true);
  });
});
