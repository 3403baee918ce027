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

// --- Hostile files, written byte by byte -----------------------------------

/** A JPEG marker segment: FF, marker, 16-bit length, body. */
function segment(marker: number, body: number[]): number[] {
  return [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
}

/** Bits, most significant first, into bytes with 0xFF stuffed and the tail padded with ones. */
class JpegBits {
  private readonly out: number[] = [];
  private acc = 0;
  private count = 0;
  put(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.count === 8) this.flush();
    }
  }
  private flush(): void {
    this.out.push(this.acc);
    if (this.acc === 0xff) this.out.push(0);
    this.acc = 0;
    this.count = 0;
  }
  bytes(): number[] {
    while (this.count !== 0) this.put(1, 1);
    return this.out;
  }
}

/**
 * A valid progressive greyscale JPEG of one flat grey with very many scans,
 * all of them walking every 8×8 block: the DC scan, then every AC
 * coefficient on its own, in `passes` successive-approximation steps
 * (1..14): 1 + coefficients × passes scans. Each AC scan is a few end-of-band runs,
 * so the file stays small while the decoder's work grows with
 * scans × blocks (a 6320×6320 one with 10 passes is about 120 KB).
 */
export function manyScanJpeg(
  width: number,
  height: number,
  passes: number,
  coefficients = 63,
): Uint8Array {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const eobSymbols = Array.from({ length: 15 }, (_, r) => r << 4);
  const parts: number[][] = [
    [0xff, 0xd8],
    segment(0xdb, [0x00, ...new Array(64).fill(1)]),
    segment(0xc2, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
    // DC table: one symbol (difference 0) with the 1-bit code 0.
    segment(0xc4, [0x00, 1, ...new Array(15).fill(0), 0]),
    // AC table: the 15 end-of-band runs EOB0..EOB14, 4-bit codes 0..14.
    segment(0xc4, [0x10, 0, 0, 0, 15, ...new Array(12).fill(0), ...eobSymbols]),
  ];
  const dc = new JpegBits();
  for (let i = 0; i < blocks; i++) dc.put(0, 1);
  parts.push(segment(0xda, [1, 1, 0x00, 0, 0, 0x00]), dc.bytes());
  for (let k = 1; k <= coefficients; k++) {
    for (let pass = passes - 1; pass >= 0; pass--) {
      const ah = pass === passes - 1 ? 0 : pass + 1;
      parts.push(segment(0xda, [1, 1, 0x00, k, k, (ah << 4) | pass]));
      const ac = new JpegBits();
      for (let left = blocks; left > 0; ) {
        const run = Math.min(left, 0x7fff);
        const r = Math.floor(Math.log2(run));
        ac.put(r, 4);
        if (r > 0) ac.put(run - 2 ** r, r);
        left -= run;
      }
      parts.push(ac.bytes());
    }
  }
  parts.push([0xff, 0xd9]);
  return new Uint8Array(parts.flat());
}

/** GIF LZW data for `count` pixels of colour index 0, as sub-blocks. */
function flatLzw(count: number): number[] {
  const minCodeSize = 2;
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  let size = minCodeSize + 1;
  const emit = (code: number) => {
    acc |= code << bits;
    bits += size;
    while (bits >= 8) {
      bytes.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  };
  // One colour: the table only ever extends the current run by one more pixel.
  const child = new Int32Array(4096);
  let next = eoi + 1;
  emit(clear);
  let current = 0;
  for (let i = 1; i < count; i++) {
    const longer = child[current] as number;
    if (longer !== 0) {
      current = longer;
      continue;
    }
    emit(current);
    if (next === 4096) {
      emit(clear);
      child.fill(0);
      next = eoi + 1;
      size = minCodeSize + 1;
    } else {
      if (next >= 1 << size) size++;
      child[current] = next++;
    }
    current = 0;
  }
  emit(current);
  emit(eoi);
  if (bits > 0) bytes.push(acc & 0xff);
  const blocks: number[] = [];
  for (let at = 0; at < bytes.length; at += 255) {
    const part = bytes.slice(at, at + 255);
    blocks.push(part.length, ...part);
  }
  blocks.push(0);
  return blocks;
}

const le16 = (n: number) => [n & 0xff, n >> 8];

/**
 * A GIF whose logical screen is `width`×`height`, holding `frames` frames
 * of one colour, each `frame` (default: the whole screen) at `at`. One flat
 * colour compresses so well that 6324×6324 pixels take about 27 KB.
 */
export function flatGif(
  width: number,
  height: number,
  frames = 1,
  frame = { width, height },
  at = { left: 0, top: 0 },
): Uint8Array {
  const data = flatLzw(frame.width * frame.height);
  const image = [
    0x2c,
    ...le16(at.left),
    ...le16(at.top),
    ...le16(frame.width),
    ...le16(frame.height),
    0,
    2,
    ...data,
  ];
  const head = [...Buffer.from('GIF89a'), ...le16(width), ...le16(height), 0x80, 0, 0];
  const palette = [0xff, 0x00, 0x00, 0x00, 0x00, 0xff];
  const out = new Uint8Array(head.length + palette.length + image.length * frames + 1);
  out.set(head, 0);
  out.set(palette, head.length);
  for (let i = 0; i < frames; i++) out.set(image, head.length + palette.length + i * image.length);
  out[out.length - 1] = 0x3b;
  return out;
}

/**
 * A PNG of `width`×`height` pixels, all zero, valid to the last row: a
 * pixel bomb the decoder really has to inflate. `interlaced` marks it
 * Adam7 (decoded whole) and `rgba16` makes every pixel 8 bytes.
 */
export async function flatPng(
  width: number,
  height: number,
  { interlaced = false, rgba16 = false } = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = rgba16 ? 16 : 8;
  header[9] = rgba16 ? 6 : 2;
  header[12] = interlaced ? 1 : 0;
  const rowBytes = 1 + width * (rgba16 ? 8 : 3);
  // Adam7 rows add up to fewer bytes than this; zeros past the end are ignored.
  const raw = BigInt(rowBytes) * BigInt(height);
  const zlib = await import('node:zlib');
  const deflate = zlib.createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (part: Buffer) => parts.push(part));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = raw; left > 0n; left -= BigInt(zeros.length)) {
    const n = left < BigInt(zeros.length) ? Number(left) : zeros.length;
    if (!deflate.write(zeros.subarray(0, n))) await new Promise((r) => deflate.once('drain', r));
  }
  deflate.end();
  await done;
  return new Uint8Array(
    Buffer.concat([
      Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
      chunk('IHDR', header),
      chunk('IDAT', Buffer.concat(parts)),
      chunk('IEND', new Uint8Array()),
    ]),
  );
}

/**
 * A lossless WebP of one grey, `width`×`height` (up to 16383 each), in 38
 * bytes: libwebp codes one colour in zero bits per pixel, so the bitstream
 * it wrote for a small one (sharp, `lossless: true, effort: 0`) holds any
 * size once the header says so. (Encoding a large one takes seconds.)
 */
export function flatWebp(width: number, height: number): Uint8Array {
  const file = Buffer.from(
    '524946461e000000574542505650384c110000002f3fc00b000750c00216b0ff8188e87f0000',
    'hex',
  );
  const bits = file.readUInt32LE(21);
  file.writeUInt32LE(((bits & ~0xfffffff) | (width - 1) | ((height - 1) << 14)) >>> 0, 21);
  return new Uint8Array(file);
}

/** A hostile file and what the service must answer it with. */
export interface HostileImage {
  name: string;
  file: string;
  status: 200 | 400;
}

/**
 * The hostile set of test/media/hostile-images.test.ts and bench/pictures.ts,
 * written to `dir` by a process of its own (`bun test/support/images.ts <dir>`),
 * so that making them costs the measuring process no memory.
 */
export async function writeHostileImages(dir: string): Promise<HostileImage[]> {
  const set: [string, string, 200 | 400, () => Uint8Array | Promise<Uint8Array>][] = [
    ['progressive JPEG 6320×6320, 631 scans', 'scans.jpg', 400, () => manyScanJpeg(6320, 6320, 10)],
    ['progressive JPEG 6320×6320, 10 scans', 'prog.jpg', 400, () => manyScanJpeg(6320, 6320, 1, 9)],
    [
      'progressive JPEG 5000×5000, 32 scans (limit)',
      'prog-limit.jpg',
      200,
      () => manyScanJpeg(5000, 5000, 1, 31),
    ],
    ['GIF 6324×6324 of one colour', 'canvas.gif', 400, () => flatGif(6324, 6324)],
    [
      'GIF 16×16 frame on a 6324×6324 screen',
      'screen.gif',
      400,
      () => flatGif(6324, 6324, 1, { width: 16, height: 16 }),
    ],
    [
      'GIF frame beyond the screen (60016×16)',
      'beyond.gif',
      200,
      () => flatGif(16, 16, 1, { width: 16, height: 16 }, { left: 60_000, top: 0 }),
    ],
    ['GIF 2500×2500 (canvas limit)', 'canvas-limit.gif', 200, () => flatGif(2500, 2500)],
    ['GIF 1000×1000, 2000 frames', 'frames.gif', 400, () => flatGif(1000, 1000, 2000)],
    [
      'GIF 1000×1000, 1000 frames (limit)',
      'frames-limit.gif',
      200,
      () => flatGif(1000, 1000, 1000),
    ],
    ['PNG 60000×60000 (header only)', 'bomb.png', 400, () => pngBomb(60_000, 60_000)],
    ['PNG 6000×6000 of zeros', 'zeros.png', 200, () => flatPng(6000, 6000)],
    [
      'PNG 3000×3000 interlaced RGBA16',
      'adam7.png',
      400,
      () => flatPng(3000, 3000, { interlaced: true, rgba16: true }),
    ],
    ['WebP lossless 6300×6300 of one colour', 'flat.webp', 200, () => flatWebp(6300, 6300)],
    ['WebP lossless 16383×16383 of one colour', 'huge.webp', 400, () => flatWebp(16383, 16383)],
  ];
  const out: HostileImage[] = [];
  for (const [name, file, status, make] of set) {
    await Bun.write(`${dir}/${file}`, await make());
    out.push({ name, file, status });
  }
  return out;
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: bun test/support/images.ts <dir>');
  console.log(JSON.stringify(await writeHostileImages(dir)));
}
