import { describe, expect, it } from 'bun:test';
import sharp from 'sharp';
import {
  BLUE,
  flatGif,
  flatPng,
  flatWebp,
  gif,
  jpeg,
  manyScanJpeg,
  png,
  RED,
  webp,
} from '../../test/support/images.ts';
import { type ImageShape, inspectImage, overBudget, sniffImageType } from './image-type.ts';
import type { ImageType } from './picture-ports.ts';

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)),
  );

describe('unit: sniffImageType', () => {
  it('should recognise JPEG, PNG, GIF and WebP by their first bytes', () => {
    expect(sniffImageType(bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'))).toBe('jpeg');
    expect(sniffImageType(bytes('\x89PNG\r\n\x1a\n', [0, 0, 0, 13]))).toBe('png');
    expect(sniffImageType(bytes('GIF89a', [1, 0]))).toBe('gif');
    expect(sniffImageType(bytes('GIF87a'))).toBe('gif');
    expect(sniffImageType(bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '))).toBe('webp');
  });

  it('should refuse everything else, including near misses and short input', () => {
    for (const input of [
      bytes(''),
      bytes([0xff, 0xd8]),
      bytes('\x89PNG\r\n'),
      bytes('GIF88a'),
      bytes('RIFF', [1, 2, 3, 4], 'WAVE'),
      bytes('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      bytes('hello, this is not an image'),
      bytes('BM', [0, 0, 0, 0]),
      bytes([0, 0, 0, 0x18], 'ftypheic'),
    ]) {
      expect(sniffImageType(input)).toBeNull();
    }
  });
});

describe('unit: inspectImage', () => {
  it('should read sizes, scans, frames and what a decoder must buffer, from real and hand-built files', async () => {
    const cases: [string, Uint8Array, ImageType, Partial<ImageShape>][] = [
      [
        'baseline JPEG',
        await jpeg(300, 200),
        'jpeg',
        { width: 300, height: 200, scans: 1, bufferedBytes: 0 },
      ],
      [
        'progressive JPEG 4:4:4 (10 scans)',
        new Uint8Array(
          await sharp(await png(64, 48))
            .jpeg({ progressive: true, chromaSubsampling: '4:4:4' })
            .toBuffer(),
        ),
        'jpeg',
        { width: 64, height: 48, scans: 10, progressive: true, bufferedBytes: 3 * 8 * 6 * 128 },
      ],
      [
        'many-scan progressive JPEG',
        manyScanJpeg(6320, 6320, 10),
        'jpeg',
        {
          width: 6320,
          height: 6320,
          scans: 631,
          progressive: true,
          bufferedBytes: 790 * 790 * 128,
        },
      ],
      ['PNG', await png(300, 200), 'png', { width: 300, height: 200, frames: 1, bufferedBytes: 0 }],
      [
        'interlaced 16-bit RGBA PNG',
        await flatPng(100, 50, { interlaced: true, rgba16: true }),
        'png',
        { width: 100, height: 50, bufferedBytes: 100 * 50 * 8 },
      ],
      ['GIF', await gif(50, 40), 'gif', { width: 50, height: 40, frames: 1 }],
      [
        'huge-canvas GIF',
        flatGif(6324, 6324),
        'gif',
        { width: 6324, height: 6324, frames: 1, bufferedBytes: 6324 * 6324 * 8 },
      ],
      [
        'a frame beyond the logical screen',
        flatGif(16, 16, 1, { width: 16, height: 16 }, { left: 60_000, top: 0 }),
        'gif',
        { width: 60_016, height: 16 },
      ],
      [
        'many-frame GIF',
        flatGif(100, 80, 300),
        'gif',
        { width: 100, height: 80, frames: 300, framePixels: 300 * 8000 },
      ],
      [
        'lossy WebP',
        await webp(80, 120),
        'webp',
        { width: 80, height: 120, frames: 1, bufferedBytes: 0 },
      ],
      ['lossless WebP', flatWebp(300, 7), 'webp', { width: 300, height: 7, bufferedBytes: 0 }],
    ];
    for (const [name, bytes, type, expected] of cases) {
      const shape = inspectImage(bytes, type);
      expect([name, shape && pick(shape, expected)]).toEqual([name, expected]);
    }
  });

  it('should read an animated WebP and an APNG as animations', async () => {
    const animated = new Uint8Array(
      await sharp([await png(40, 30), await png(40, 30, BLUE, RED), await png(40, 30, RED, RED)], {
        join: { animated: true },
      })
        .webp()
        .toBuffer(),
    );
    const shape = inspectImage(animated, 'webp');
    expect(shape && [shape.width, shape.height, shape.frames]).toEqual([40, 30, 3]);
    expect(shape?.bufferedBytes).toBe(40 * 30 * 8);
    // An acTL chunk before the image data announces APNG frames.
    const still = await png(20, 10);
    const acTL = [
      0,
      0,
      0,
      8,
      ...new TextEncoder().encode('acTL'),
      0,
      0,
      0,
      7,
      0,
      0,
      0,
      0,
      1,
      2,
      3,
      4,
    ];
    const apng = new Uint8Array([...still.subarray(0, 33), ...acTL, ...still.subarray(33)]);
    expect(inspectImage(apng, 'png')?.frames).toBe(7);
  });

  it('should answer null for truncated or malformed containers, never throw', async () => {
    const whole = manyScanJpeg(64, 64, 1);
    const cuts: [Uint8Array, ImageType][] = [
      [whole.subarray(0, 10), 'jpeg'],
      [new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), 'jpeg'],
      [(await png()).subarray(0, 20), 'png'],
      [flatGif(10, 10).subarray(0, 12), 'gif'],
      [new TextEncoder().encode('GIF89a\x00\x00\x00\x00\x00\x00\x00\x3b'), 'gif'],
      [(await webp()).subarray(0, 16), 'webp'],
    ];
    for (const [bytes, type] of cuts) expect(inspectImage(bytes, type)).toBeNull();
  });
});

describe('unit: overBudget', () => {
  const budget = {
    maxPixels: 40_000_000,
    maxBufferedBytes: 48 * 1024 * 1024,
    maxScans: 32,
    maxFrames: 1000,
    maxFramePixels: 1e9,
  };
  const shape: ImageShape = {
    width: 1000,
    height: 1000,
    frames: 1,
    framePixels: 1e6,
    scans: 1,
    progressive: false,
    bufferedBytes: 0,
  };
  it('should pass a shape within every limit and name the first limit passed otherwise', () => {
    expect(overBudget(shape, budget)).toBeNull();
    expect(overBudget({ ...shape, width: 60_000, height: 60_000 }, budget)).toBe(
      'the picture is 60000×60000 pixels; at most 40 megapixels are accepted',
    );
    expect(overBudget({ ...shape, scans: 631, progressive: true }, budget)).toBe(
      'the picture is a JPEG in 631 scans; at most 32 are accepted: save it again as a standard (baseline) JPEG',
    );
    expect(overBudget({ ...shape, frames: 1001 }, budget)).toContain('animation of 1001 frames');
    expect(overBudget({ ...shape, frames: 900, framePixels: 9e8 + 1e9 }, budget)).toContain(
      'animation of 900 frames',
    );
    expect(
      overBudget({ ...shape, scans: 10, progressive: true, bufferedBytes: 60 << 20 }, budget),
    ).toBe(
      'the picture is a progressive JPEG of 1000×1000 pixels, which takes 60 MiB to decode; at most 48 MiB are accepted: save it again as a standard (baseline) JPEG, or smaller',
    );
  });
});

function pick(shape: ImageShape, keys: Partial<ImageShape>): Partial<ImageShape> {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, shape[k as keyof ImageShape]]));
}
