/**
 * What every PictureStore adapter must do (src/core/picture-ports.ts), run
 * against each of them.
 */
import { describe, expect, it } from 'bun:test';
import type { PictureStore } from '../../src/core/picture-ports.ts';

const KEY = `${'ab'.repeat(32)}.webp`;
const SMALL = `${'ab'.repeat(32)}-64.webp`;
const bytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);

export function pictureStoreContract(name: string, open: () => PictureStore) {
  describe(`${name}: PictureStore contract`, () => {
    it('should put, get, check and delete a file', async () => {
      const store = open();
      expect(await store.get(KEY)).toBeNull();
      expect(await store.exists(KEY)).toBe(false);
      await store.put(KEY, bytes(1000), 'image/webp');
      await store.put(SMALL, bytes(10), 'image/webp');
      expect(await store.exists(KEY)).toBe(true);
      expect(await store.get(KEY)).toEqual({ bytes: bytes(1000), contentType: 'image/webp' });
      expect((await store.get(SMALL))?.bytes).toEqual(bytes(10));
      await store.delete(KEY);
      expect(await store.get(KEY)).toBeNull();
      expect(await store.exists(KEY)).toBe(false);
      expect(await store.exists(SMALL)).toBe(true);
    });

    it('should replace a file that exists and delete a missing one quietly', async () => {
      const store = open();
      await store.put(KEY, bytes(5), 'image/webp');
      await store.put(KEY, bytes(6), 'image/webp');
      expect((await store.get(KEY))?.bytes).toEqual(bytes(6));
      await store.delete(KEY);
      await store.delete(KEY);
      expect(await store.exists(KEY)).toBe(false);
    });

    it('should find nothing for keys outside the alphabet, and refuse to write them', async () => {
      const store = open();
      for (const bad of [
        '../secret.webp',
        '../../etc/passwd',
        'a/b.webp',
        '.hidden.webp',
        `${'ab'.repeat(32)}.WEBP`,
        `${'ab'.repeat(32)}.webp/`,
        `${'ab'.repeat(32)}`,
        'x.webp\n',
        '%2e%2e.webp',
        '',
      ]) {
        expect(await store.get(bad)).toBeNull();
        expect(await store.exists(bad)).toBe(false);
        await store.delete(bad);
        expect(store.put(bad, bytes(1), 'image/webp')).rejects.toThrow(RangeError);
      }
    });

    it('should refuse a content type that the key does not stand for', async () => {
      expect(open().put(KEY, bytes(1), 'text/html')).rejects.toThrow(RangeError);
    });
  });
}
