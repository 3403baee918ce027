/**
 * The ports the picture service needs, implemented in src/media and wired
 * in src/tcp/start.ts: somewhere to keep files, and something that turns an
 * uploaded image into safe, small, square ones.
 */
import type { Deadline } from '../lib/deadline.ts';

/** A stored file and its media type. */
export interface StoredPicture {
  bytes: Uint8Array;
  contentType: string;
}

/**
 * Files by key. Keys are what the picture service makes of a picture's name
 * (`<64 hex>.webp`, `<64 hex>-64.webp`); adapters refuse anything
 * outside a strict alphabet, so a key can never name a path elsewhere.
 *
 * - put() is atomic: a reader sees the whole file or none. Writing a key
 *   that exists replaces it (with the same bytes: a name is never given to other bytes).
 * - get() is null for a key that is not stored, or that no put() could have made.
 * - delete() of a key that is not stored does nothing.
 * - An outage (disk error, S3 unreachable or slow) throws an RpcError with
 *   status UNAVAILABLE; anything else thrown is a bug.
 */
export interface PictureStore {
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  get(key: string): Promise<StoredPicture | null>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * Where a put can leave a part behind when its process stops mid-write (a
   * local directory; an S3 put cannot): removes such leftovers older than
   * `olderThanMs`, stopping early when `stopped()` says so; how many it removed.
   */
  sweepTemporaries?(olderThanMs: number, nowMs?: number, stopped?: () => boolean): Promise<number>;
}

/** The image formats accepted for upload, as recognised by their first bytes. */
export type ImageType = 'jpeg' | 'png' | 'webp' | 'gif';

/** Why an image was refused: expected outcomes, so values and not exceptions. */
export type ImageRejection =
  | { rejected: 'too_many_pixels'; width: number; height: number; maxPixels: number }
  | { rejected: 'unreadable' }
  | { rejected: 'too_slow' }
  /** The processor itself cannot work (not the image's fault). */
  | { rejected: 'unavailable' };

/**
 * Decodes an image of a known type and re-encodes it as square WebP images,
 * one per requested size, in that order: the EXIF orientation applied, the
 * centre cropped to a square, every kind of metadata left out. Refuses an
 * image whose header announces more pixels than its limit before decoding it.
 */
export interface ImageProcessor {
  process(
    input: Uint8Array,
    type: ImageType,
    sizes: readonly number[],
    deadline: Deadline,
  ): Promise<Uint8Array[] | ImageRejection>;
  /** Stops whatever the processor runs (at shutdown). */
  close?(): void;
}
