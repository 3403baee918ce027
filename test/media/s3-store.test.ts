/**
 * The S3 adapter against a fake S3 on 127.0.0.1 (test/media/fake-s3.ts) that
 * checks every request's signature: no real S3 is reachable from here.
 */
import { afterAll, describe, expect, it } from 'bun:test';
import { S3PictureStore, type S3StoreOptions } from '../../src/media/s3-store.ts';
import { RpcError } from '../../src/wire/rpc-error.ts';
import { Status } from '../../src/wire/status.ts';
import { pictureStoreContract } from './contract.ts';
import { startFakeS3 } from './fake-s3.ts';

const s3 = startFakeS3();
afterAll(() => s3.stop());

function options(overrides: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    prefix: 'pictures/',
    timeoutMs: 1000,
    ...overrides,
  };
}

pictureStoreContract('S3 (fake, signature-checked)', () => new S3PictureStore(options()));

describe('S3 store', () => {
  const KEY = `${'ef'.repeat(32)}.webp`;

  it('should write objects under the prefix with their content type', async () => {
    const store = new S3PictureStore(options({ prefix: 'tenant-1/pics/' }));
    await store.put(KEY, new Uint8Array([9, 9]), 'image/webp');
    expect(s3.objects.get(`tenant-1/pics/${KEY}`)).toEqual({
      body: new Uint8Array([9, 9]),
      contentType: 'image/webp',
    });
    expect(s3.log.at(-1)).toBe(`PUT /${s3.bucket}/tenant-1/pics/${KEY}`);
  });

  it('should call a wrong secret, an S3 error, a slow S3 and no S3 at all an outage', async () => {
    const cases: [string, () => S3PictureStore][] = [
      ['wrong secret', () => new S3PictureStore(options({ secretAccessKey: 'wrong' }))],
      ['nothing listening', () => new S3PictureStore(options({ endpoint: 'http://127.0.0.1:1' }))],
    ];
    for (const [what, make] of cases) {
      const error = await make()
        .put(KEY, new Uint8Array([1]), 'image/webp')
        .catch((e) => e);
      expect([what, error instanceof RpcError && error.code]).toEqual([what, Status.UNAVAILABLE]);
    }
    const store = new S3PictureStore(options({ timeoutMs: 300 }));
    for (const mode of ['error', 'slow'] as const) {
      s3.mode = mode;
      const started = performance.now();
      const error = await store.get(KEY).catch((e) => e);
      expect([mode, error instanceof RpcError && error.code]).toEqual([mode, Status.UNAVAILABLE]);
      expect(performance.now() - started).toBeLessThan(1000);
    }
    s3.mode = 'ok';
  });
});
