/**
 * Images for tests, made on the fly: real ones with sharp, hostile ones by hand.
 */
import sharp from 'sharp';

type Rgb = [number, number, number];
export const RED: Rgb = [255, 0, 0];
export const BLUE: Rgb = [0, 0, 255];

/** Raw RGB pixels: the left half `left`, the right half `right`. */
function halves(width: number, height: number, left: Rgb, right: Rgb): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return raw;
}

/** As a plain Uint8Array, which fetch bodies and Blobs take (a Buffer may be a view of a pool). */
async function bytes(encoded: Promise<Buffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await encoded);
}

function image(width: number, height: number, left: Rgb, right: Rgb) {
  return sharp(halves(width, height, left, right), { raw: { width, height, channels: 3 } });
}

/** A PNG, left half red and right half blue. */
export async function png(
  width = 300,
  height = 200,
  left = RED,
  right = BLUE,
): Promise<Uint8Array<ArrayBuffer>> {
  return bytes(image(width, height, left, right).png().toBuffer());
}

/**
 * A landscape JPEG (left red, right blue) whose EXIF says "rotate 90° clockwise
 * to display" (orientation 6), with a camera model and GPS-like comment to strip.
 * Shown upright it is portrait: red on top, blue below.
 */
export async function rotatedJpeg(width = 400, height = 200): Promise<Uint8Array<ArrayBuffer>> {
  return bytes(
    image(width, height, RED, BLUE)
      .jpeg({ quality: 95 })
      .withExif({ IFD0: { Model: 'Test Camera 3000', ImageDescription: 'secret location' } })
      .withMetadata({ orientation: 6 })
      .toBuffer(),
  );
}

/** A JPEG of one colour. */
export async function jpeg(width = 300, height = 200): Promise<Uint8Array<ArrayBuffer>> {
  return bytes(image(width, height, RED, RED).jpeg().toBuffer());
}

/**
 * A real JPEG that is also HTML: a page in a comment segment right after the
 * start marker (within the first bytes a browser sniffs) and again after the
 * end marker.
 */
export async function polyglotJpeg(): Promise<Uint8Array<ArrayBuffer>> {
  const plain = Buffer.from(await jpeg(97, 61));
  const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
  const comment = Buffer.alloc(4);
  comment.writeUInt16BE(0xfffe, 0); // COM marker
  comment.writeUInt16BE(html.length + 2, 2);
  return new Uint8Array(
    Buffer.concat([plain.subarray(0, 2), comment, html, plain.subarray(2), html]),
  );
}

export async function gif(width = 50, height = 50): Promise<Uint8Array<ArrayBuffer>> {
  return bytes(image(width, height, RED, BLUE).gif().toBuffer());
}

export async function webp(width = 80, height = 120): Promise<Uint8Array<ArrayBuffer>> {
  return bytes(image(width, height, RED, BLUE).webp().toBuffer());
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A decompression bomb: a PNG of a few hundred bytes whose header announces
 * width × height pixels (and whose data, if anyone decoded it, is all zeros).
 */
export function pngBomb(width = 60_000, height = 60_000): Uint8Array<ArrayBuffer> {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return new Uint8Array(
    Buffer.concat([
      Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
      chunk('IHDR', header),
      chunk('IDAT', Bun.deflateSync(new Uint8Array(1024))),
      chunk('IEND', new Uint8Array()),
    ]),
  );
}

/** The colour of one pixel of an encoded image. */
export async function pixel(encoded: Uint8Array, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(encoded).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [data[at] ?? -1, data[at + 1] ?? -1, data[at + 2] ?? -1];
}

/** True when two colours differ by at most `tolerance` per channel (lossy encodings). */
export function near(a: Rgb, b: Rgb, tolerance = 40): boolean {
  return a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= tolerance);
}
