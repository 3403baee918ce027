import { afterAll, describe, expect, it } from 'bun:test';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPictureStore } from '../../src/media/local-store.ts';
import { RpcError } from '../../src/wire/rpc-error.ts';
import { Status } from '../../src/wire/status.ts';
import { pictureStoreContract } from './contract.ts';

const root = mkdtempSync(join(tmpdir(), 'usermgr-local-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, String(n++));

pictureStoreContract('local directory', () => new LocalPictureStore(fresh()));

describe('local directory store', () => {
  const KEY = `${'cd'.repeat(32)}.webp`;

  it('should keep files in subdirectories by the first two characters, with no temporary left', async () => {
    const dir = fresh();
    const store = new LocalPictureStore(dir);
    await store.put(KEY, new Uint8Array([1, 2, 3]), 'image/webp');
    expect(readdirSync(dir)).toEqual(['cd']);
    expect(readdirSync(join(dir, 'cd'))).toEqual([KEY]);
  });

  it('should never read a file outside its directory, even one placed beside it', async () => {
    const dir = fresh();
    const store = new LocalPictureStore(join(dir, 'pictures'));
    mkdirSync(dir);
    writeFileSync(join(dir, 'secret.webp'), 'secret');
    expect(await store.get('../secret.webp')).toBeNull();
    expect(await store.get('..%2fsecret.webp')).toBeNull();
  });

  it('should report a directory it cannot write as an outage (UNAVAILABLE), not a crash', async () => {
    if (process.getuid?.() === 0) {
      // Root ignores permissions: use a path through a file instead.
      const file = fresh();
      writeFileSync(file, 'not a directory');
      const store = new LocalPictureStore(join(file, 'pictures'));
      const error = await store.put(KEY, new Uint8Array([1]), 'image/webp').catch((e) => e);
      expect(error).toBeInstanceOf(RpcError);
      expect((error as RpcError).code).toBe(Status.UNAVAILABLE);
      return;
    }
    const dir = fresh();
    const store = new LocalPictureStore(dir);
    await store.put(KEY, new Uint8Array([1]), 'image/webp');
    chmodSync(join(dir, 'cd'), 0o500);
    const error = await store.put(KEY, new Uint8Array([1]), 'image/webp').catch((e) => e);
    chmodSync(join(dir, 'cd'), 0o700);
    expect((error as RpcError).code).toBe(Status.UNAVAILABLE);
  });

  it('should make a directory removed under it again at the next put', async () => {
    const dir = fresh();
    const store = new LocalPictureStore(dir);
    await store.put(KEY, new Uint8Array([1]), 'image/webp');
    rmSync(dir, { recursive: true, force: true });
    await store.put(KEY, new Uint8Array([2]), 'image/webp');
    expect(await store.get(KEY)).toEqual({ bytes: new Uint8Array([2]), contentType: 'image/webp' });
    expect(readdirSync(join(dir, 'cd'))).toEqual([KEY]);
  });

  // Regression: a put that a kill -9 stopped left its temporary file for good.
  it('should sweep temporary files older than asked, and nothing else', async () => {
    const dir = fresh();
    const store = new LocalPictureStore(dir);
    await store.put(KEY, new Uint8Array([1]), 'image/webp');
    const now = Date.now();
    const hourAgo = new Date(now - 3_600_000);
    const place = (folder: string, name: string, old: boolean) => {
      mkdirSync(join(dir, folder), { recursive: true });
      writeFileSync(join(dir, folder, name), 'part');
      if (old) utimesSync(join(dir, folder, name), hourAgo, hourAgo);
    };
    place('cd', '.tmp-0123456789abcdef', true); // left by a stopped put: removed
    place('ab', '.tmp-fedcba9876543210', true); // the same, in another directory
    place('cd', '.tmp-00000000000000ff', false); // a put under way: kept
    place('cd', '.tmp-notours', true); // not a name put() makes: kept
    place('..', '.tmp-1111111111111111', true); // outside: never looked at
    place('notes', '.tmp-2222222222222222', true); // not a key directory: kept
    utimesSync(join(dir, 'cd', KEY), hourAgo, hourAgo); // a picture, however old: kept
    expect(await store.sweepTemporaries(10 * 60_000, now)).toBe(2);
    expect(readdirSync(join(dir, 'cd')).sort()).toEqual(
      ['.tmp-00000000000000ff', '.tmp-notours', KEY].sort(),
    );
    expect(readdirSync(join(dir, 'ab'))).toEqual([]);
    expect(readdirSync(join(dir, 'notes'))).toEqual(['.tmp-2222222222222222']);
    expect(readdirSync(join(dir, '..'))).toContain('.tmp-1111111111111111');
    // Stopped before it began: nothing removed.
    place('ab', '.tmp-3333333333333333', true);
    expect(await store.sweepTemporaries(10 * 60_000, now, () => true)).toBe(0);
    expect(readdirSync(join(dir, 'ab'))).toEqual(['.tmp-3333333333333333']);
    // A store whose directory was never made has nothing to sweep.
    expect(await new LocalPictureStore(fresh()).sweepTemporaries(0)).toBe(0);
  });
});
