import { afterAll, describe, expect, it } from 'bun:test';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
});
