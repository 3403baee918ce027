/**
 * The ImageProcessor port on sharp (libvips), as run inside an image process
 * (image-worker.ts; the TCP server never loads libvips). The picture service
 * has already refused containers over its decode budget and caps how many
 * images are in work at once; each uses one libvips thread.
 *
 * Untrusted input, so: the header is read first and an image announcing
 * more than `maxPixels` is refused before its pixels are decoded (a small
 * PNG can announce gigapixels); decoding stops at errors and truncation but
 * tolerates the warnings common in real photos; only the first
 * frame of an animation is read; a time limit stops pathological files.
 */

import sharp from 'sharp';
import type { ImageProcessor, ImageRejection, ImageType } from '../core/picture-ports.ts';
import type { Deadline } from '../lib/deadline.ts';

export interface SharpProcessorOptions {
  /** Largest width × height accepted. */
  maxPixels: number;
  /** WebP quality, 1..100. */
  quality?: number;
}

// Work is parallel across images (the picture service's semaphore), not
// within one: libvips' own thread pool per image would oversubscribe the cores.
sharp.concurrency(1);
// Inputs are never seen twice: libvips' operation cache would only hold memory.
sharp.cache(false);

export class SharpProcessor implements ImageProcessor {
  constructor(private readonly options: SharpProcessorOptions) {}

  async process(
    input: Uint8Array,
    type: ImageType,
    sizes: readonly number[],
    deadline: Deadline,
  ): Promise<Uint8Array[] | ImageRejection> {
    const { maxPixels, quality = 82 } = this.options;
    const header = await readHeader(input);
    if (header === null || header.format !== type) return { rejected: 'unreadable' };
    if (header.width * header.height > maxPixels) {
      return {
        rejected: 'too_many_pixels',
        width: header.width,
        height: header.height,
        maxPixels,
      };
    }
    const seconds = Math.ceil(deadline.remainingMs() / 1000);
    if (seconds <= 0) return { rejected: 'too_slow' };
    const largest = Math.max(...sizes);
    try {
      // Decode once: oriented, centre-cropped, scaled to the largest size, as raw pixels.
      const { data, info } = await sharp(input, {
        limitInputPixels: maxPixels,
        failOn: 'error',
        autoOrient: true,
        pages: 1,
      })
        // Shrink-on-load: JPEG decodes at 1/2..1/8 scale, WebP scales while decoding.
        .resize(largest, largest, { fit: 'cover', position: 'centre', fastShrinkOnLoad: true })
        .timeout({ seconds })
        .raw()
        .toBuffer({ resolveWithObject: true });
      const raw = { width: info.width, height: info.height, channels: info.channels };
      // sharp writes no metadata (EXIF, XMP, ICC) unless asked to: none is kept.
      return await Promise.all(
        sizes.map(async (size) => {
          const image = sharp(data, { raw });
          if (size !== largest) image.resize(size, size);
          return new Uint8Array(await image.webp({ quality, effort: 4 }).toBuffer());
        }),
      );
    } catch (err) {
      if (err instanceof Error && /timeout/i.test(err.message)) return { rejected: 'too_slow' };
      return { rejected: 'unreadable' };
    }
  }
}

interface Header {
  format: string;
  width: number;
  height: number;
}

/** Format and size from the header alone; null when it cannot be parsed. */
async function readHeader(input: Uint8Array): Promise<Header | null> {
  try {
    // No pixel limit here: reading the header decodes no pixels, and the
    // caller wants the announced size to refuse it with a clear message.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    return { format: meta.format, width: meta.width, height: meta.height };
  } catch {
    return null;
  }
}
