import { describe, expect, it } from 'bun:test';
import sharp from 'sharp';
import {
  BLUE,
  gif,
  near,
  pixel,
  png,
  pngBomb,
  RED,
  rotatedJpeg,
  webp,
} from '../../test/support/images.ts';
import { Deadline } from '../lib/deadline.ts';
import { SharpProcessor } from './sharp-processor.ts';

const processor = new SharpProcessor({ maxPixels: 40_000_000 });
const soon = () => Deadline.after(10_000);

async function encoded(input: Uint8Array, type: 'jpeg' | 'png' | 'gif' | 'webp') {
  const out = await processor.process(input, type, [256, 64], soon());
  if (!Array.isArray(out)) throw new Error(`refused: ${JSON.stringify(out)}`);
  return out;
}

describe('unit: SharpProcessor', () => {
  it('should make square WebP images of each size from every accepted format', async () => {
    const inputs = [
      ['png', await png()],
      ['jpeg', await rotatedJpeg()],
      ['gif', await gif()],
      ['webp', await webp()],
    ] as const;
    for (const [type, input] of inputs) {
      const [large, small] = await encoded(input, type);
      for (const [bytes, size] of [
        [large, 256],
        [small, 64],
      ] as const) {
        const meta = await sharp(bytes as Uint8Array).metadata();
        expect([type, meta.format, meta.width, meta.height]).toEqual([type, 'webp', size, size]);
      }
    }
  });

  it('should crop the centre of a landscape image', async () => {
    // 300×200, left red, right blue: the centre 200×200 square is half red, half blue.
    const [large] = await encoded(await png(300, 200), 'png');
    expect(near(await pixel(large as Uint8Array, 5, 128), RED)).toBe(true);
    expect(near(await pixel(large as Uint8Array, 250, 128), BLUE)).toBe(true);
  });

  it('should apply the EXIF orientation and keep no metadata', async () => {
    const input = await rotatedJpeg();
    expect((await sharp(input).metadata()).orientation).toBe(6);
    expect(Buffer.from(input).includes('Test Camera')).toBe(true);
    const [large] = await encoded(input, 'jpeg');
    const bytes = large as Uint8Array;
    // Upright, the landscape red|blue becomes red on top, blue below.
    expect(near(await pixel(bytes, 128, 10), RED)).toBe(true);
    expect(near(await pixel(bytes, 128, 245), BLUE)).toBe(true);
    const meta = await sharp(bytes).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(Buffer.from(bytes).includes('Test Camera')).toBe(false);
  });

  it('should give the same bytes for the same input (names are content hashes)', async () => {
    const input = await png();
    expect(await encoded(input, 'png')).toEqual(await encoded(input, 'png'));
  });

  it('should refuse a decompression bomb from its header, without decoding it', async () => {
    const bomb = pngBomb(60_000, 60_000); // 3.6 gigapixels in a few hundred bytes
    expect(bomb.length).toBeLessThan(1000);
    const started = performance.now();
    const out = await processor.process(bomb, 'png', [256, 64], soon());
    expect(out).toEqual({
      rejected: 'too_many_pixels',
      width: 60_000,
      height: 60_000,
      maxPixels: 40_000_000,
    });
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('should refuse truncated, corrupt and mislabelled images as unreadable', async () => {
    const good = await png();
    const truncated = good.subarray(0, Math.floor(good.length / 2));
    const corrupt = Buffer.from(good);
    corrupt.fill(0x55, 60, 200);
    const jpegHeaderOnly = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]);
    for (const [input, type] of [
      [truncated, 'png'],
      [corrupt, 'png'],
      [jpegHeaderOnly, 'jpeg'],
      [good, 'jpeg'], // the magic bytes said JPEG, the decoder found PNG
    ] as const) {
      expect(await processor.process(input, type, [256, 64], soon())).toEqual({
        rejected: 'unreadable',
      });
    }
  });

  it('should refuse to start when the deadline has passed', async () => {
    const out = await processor.process(await png(), 'png', [256], Deadline.after(-1));
    expect(out).toEqual({ rejected: 'too_slow' });
  });
});
