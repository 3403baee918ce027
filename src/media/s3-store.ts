/**
 * The PictureStore port on S3 or anything that speaks its API (MinIO, R2,
 * Ceph, ...), through Bun.S3Client. Objects are `<prefix><key>`, written
 * with their Content-Type. S3 writes are atomic per object and reads after
 * writes are consistent, which is all the picture service needs.
 *
 * Every request has a time limit; a slow or failing S3 is an outage
 * (UNAVAILABLE), a missing object is null.
 */
import type { PictureStore, StoredPicture } from '../core/picture-ports.ts';
import { withTimeout } from '../lib/deadline.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { contentTypeOf, isStorageKey } from './keys.ts';

export interface S3StoreOptions {
  bucket: string;
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000; '' for AWS by region. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Put before every key, e.g. 'pictures/'. */
  prefix: string;
  /** Longest one request may take. */
  timeoutMs: number;
}

export class S3PictureStore implements PictureStore {
  private readonly client: Bun.S3Client;

  constructor(private readonly options: S3StoreOptions) {
    this.client = new Bun.S3Client({
      bucket: options.bucket,
      region: options.region || undefined,
      endpoint: options.endpoint || undefined,
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
    });
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    const path = this.pathOf(key);
    if (contentType !== contentTypeOf(key))
      throw new RangeError(`${key} cannot hold ${contentType}`);
    await this.timed('write', () => this.client.write(path, bytes, { type: contentType }));
  }

  async get(key: string): Promise<StoredPicture | null> {
    if (!isStorageKey(key)) return null;
    const path = this.pathOf(key);
    try {
      const bytes = await this.timed('read', () => this.client.file(path).bytes());
      return { bytes, contentType: contentTypeOf(key) };
    } catch (err) {
      if (isNoSuchKey(err)) return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    if (!isStorageKey(key)) return false;
    const path = this.pathOf(key);
    return this.timed('stat', () => this.client.exists(path));
  }

  async delete(key: string): Promise<void> {
    if (!isStorageKey(key)) return;
    const path = this.pathOf(key);
    // S3 answers a delete of a missing object with success.
    await this.timed('delete', () => this.client.delete(path));
  }

  private pathOf(key: string): string {
    if (!isStorageKey(key)) throw new RangeError(`not a picture key: ${JSON.stringify(key)}`);
    return `${this.options.prefix}${key}`;
  }

  /** Runs one request within the time limit; a failure other than "no such key" is an outage. */
  private async timed<T>(what: string, request: () => Promise<T>): Promise<T> {
    const { timeoutMs } = this.options;
    try {
      return await withTimeout(request(), timeoutMs, () => {
        throw new Error(`S3 ${what} took over ${timeoutMs} ms`);
      });
    } catch (err) {
      if (isNoSuchKey(err)) throw err;
      throw new RpcError(Status.UNAVAILABLE, MESSAGES.PICTURE_STORAGE_UNAVAILABLE, {
        retryAfterS: 5,
        cause: { what, err },
      });
    }
  }
}

function isNoSuchKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'NoSuchKey';
}
