import { join } from 'node:path';
import type { PictureStore } from '../core/picture-ports.ts';
import { LocalPictureStore } from './local-store.ts';
import { S3PictureStore, type S3StoreOptions } from './s3-store.ts';

/** S3 when a bucket is configured, else files under DATA_DIR/pictures. */
export function openPictureStore(
  s3: S3StoreOptions,
  dataDir: string,
): { store: PictureStore; where: string } {
  if (s3.bucket !== '') {
    return { store: new S3PictureStore(s3), where: `s3://${s3.bucket}/${s3.prefix}` };
  }
  const dir = join(dataDir, 'pictures');
  return { store: new LocalPictureStore(dir), where: dir };
}
