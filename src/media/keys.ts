/**
 * Keys of stored pictures, checked by every PictureStore adapter before it
 * touches a file or an object: lower-case letters, digits and '-', then one
 * known extension. Nothing else, so a key can never be a path ('/', '..'),
 * a hidden or temporary file, or an S3 key outside the configured prefix.
 */
const KEY = /^[a-z0-9][a-z0-9-]{0,126}\.(webp|png|jpeg|gif)$/;

const TYPES: Record<string, string> = {
  webp: 'image/webp',
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
};

export function isStorageKey(key: string): boolean {
  return KEY.test(key);
}

/** The media type a key's extension stands for. */
export function contentTypeOf(key: string): string {
  return TYPES[key.slice(key.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}
