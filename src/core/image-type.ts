/**
 * What an upload is, read from its bytes before any decoder sees them: the
 * format by its magic bytes, then the container's own structure (sizes,
 * JPEG scans, animation frames), which says what decoding it would cost.
 * A small parser of our own, linear in the file size and allocation-free,
 * so that a hostile file is refused for the price of reading it once.
 */
import { pixelsInWords } from '../wire/messages.ts';
import type { ImageType } from './picture-ports.ts';

const ascii = (bytes: Uint8Array, at: number, text: string) =>
  bytes.length >= at + text.length &&
  [...text].every((char, i) => bytes[at + i] === char.charCodeAt(0));

/**
 * The format of an upload by its magic bytes, or null when it is not one we
 * accept. Decided here, before any decoder sees the bytes: a file's name and
 * declared type say nothing about what it is.
 */
export function sniffImageType(bytes: Uint8Array): ImageType | null {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(bytes, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'gif';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'webp';
  return null;
}

/** What decoding an image would take, as its container announces it. */
export interface ImageShape {
  /** The area a decoder renders into: the JPEG frame, the GIF or WebP canvas (grown to its frames). */
  width: number;
  height: number;
  /** Animation frames (1 for a still image). */
  frames: number;
  /** The pixels of every frame together. */
  framePixels: number;
  /** JPEG: scans (SOS markers), and whether the frame is progressive. */
  scans: number;
  progressive: boolean;
  /**
   * Bytes the decoder must hold for the whole image at once, beyond the rows
   * it streams: the coefficients of a progressive or multi-scan JPEG, the
   * canvas of a GIF or animated WebP, an interlaced PNG; 0 when it streams.
   */
  bufferedBytes: number;
}

/** The most a decode may cost; an image announcing more is refused before it starts. */
export interface DecodeBudget {
  maxPixels: number;
  maxBufferedBytes: number;
  maxScans: number;
  maxFrames: number;
  maxFramePixels: number;
}

/** The shape of an image of a known type, or null when its container is malformed. */
export function inspectImage(bytes: Uint8Array, type: ImageType): ImageShape | null {
  try {
    switch (type) {
      case 'jpeg':
        return inspectJpeg(bytes);
      case 'png':
        return inspectPng(bytes);
      case 'gif':
        return inspectGif(bytes);
      case 'webp':
        return inspectWebp(bytes);
    }
  } catch (err) {
    if (err instanceof RangeError) return null; // read past the end: truncated
    throw err;
  }
}

/** Why the shape is over the budget, as a message for the uploader; null when it fits. */
export function overBudget(shape: ImageShape, budget: DecodeBudget): string | null {
  const { width, height, frames, scans, bufferedBytes } = shape;
  if (width * height > budget.maxPixels) {
    return `the picture is ${width}×${height} pixels; at most ${pixelsInWords(budget.maxPixels)} are accepted`;
  }
  if (scans > budget.maxScans) {
    return `the picture is a JPEG in ${scans} scans; at most ${budget.maxScans} are accepted: save it again as a standard (baseline) JPEG`;
  }
  if (frames > budget.maxFrames || shape.framePixels > budget.maxFramePixels) {
    return `the picture is an animation of ${frames} frames of up to ${width}×${height} pixels; that is more than is accepted: upload one frame`;
  }
  if (bufferedBytes > budget.maxBufferedBytes) {
    const needs = `which takes ${mib(bufferedBytes)} MiB to decode; at most ${mib(budget.maxBufferedBytes)} MiB are accepted`;
    return shape.progressive || scans > 1
      ? `the picture is a progressive JPEG of ${width}×${height} pixels, ${needs}: save it again as a standard (baseline) JPEG, or smaller`
      : `the picture is ${width}×${height} pixels in a form ${needs}: send a smaller image`;
  }
  return null;
}

const mib = (bytes: number) => String(Math.ceil(bytes / 1024 / 1024));

/** A DataView that throws RangeError past the end, like every read here must. */
function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// --- JPEG -----------------------------------------------------------------

const SOS = 0xda;
const EOI = 0xd9;

interface JpegComponent {
  id: number;
  blocks: number;
}

/**
 * Walks the markers: the first SOF gives the size, sampling and mode; every
 * SOS is a scan whose entropy-coded data runs to the next marker. A
 * progressive or multi-scan JPEG keeps the coefficients of the whole image
 * (64 × 2 bytes per 8×8 block) until its last scan, and each scan walks
 * every block of its components: the cost grows with scans × blocks.
 */
function inspectJpeg(bytes: Uint8Array): ImageShape | null {
  const data = view(bytes);
  let width = 0;
  let height = 0;
  let progressive = false;
  let components: JpegComponent[] | null = null;
  let scans = 0;
  let at = 2;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) {
      // Stray bytes between segments: libjpeg skips to the next marker, so do we.
      at = bytes.indexOf(0xff, at);
      if (at < 0) break;
      continue;
    }
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === EOI) break;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    const length = data.getUint16(at + 2);
    if (length < 2) return null;
    const body = at + 4;
    if (isStartOfFrame(marker) && components === null) {
      progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
      height = data.getUint16(body + 1);
      width = data.getUint16(body + 3);
      components = frameComponents(data, body, width, height);
      if (components === null) return null;
    }
    at += 2 + length;
    if (marker === SOS) {
      if (components === null) return null;
      scans++;
      at = endOfEntropyData(bytes, at);
    }
  }
  if (components === null || scans === 0) return null;
  const blocks = components.reduce((sum, c) => sum + c.blocks, 0);
  const buffered = progressive || scans > 1;
  return {
    width,
    height,
    frames: 1,
    framePixels: width * height,
    scans,
    progressive,
    bufferedBytes: buffered ? blocks * 64 * 2 : 0,
  };
}

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Blocks per component, padded to whole MCUs as libjpeg allocates them. */
function frameComponents(
  data: DataView,
  body: number,
  width: number,
  height: number,
): JpegComponent[] | null {
  const count = data.getUint8(body + 5);
  if (width === 0 || height === 0 || count === 0) return null;
  const sampling: { id: number; h: number; v: number }[] = [];
  for (let i = 0; i < count; i++) {
    const factors = data.getUint8(body + 7 + i * 3);
    const h = factors >> 4;
    const v = factors & 0x0f;
    if (h === 0 || v === 0) return null;
    sampling.push({ id: data.getUint8(body + 6 + i * 3), h, v });
  }
  const hMax = Math.max(...sampling.map((c) => c.h));
  const vMax = Math.max(...sampling.map((c) => c.v));
  const mcusAcross = Math.ceil(width / (8 * hMax));
  const mcusDown = Math.ceil(height / (8 * vMax));
  return sampling.map(({ id, h, v }) => ({ id, blocks: mcusAcross * h * mcusDown * v }));
}

/** The offset of the first marker after entropy-coded data (0xFF00 and restarts belong to the data). */
function endOfEntropyData(bytes: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at < 0 || at + 1 >= bytes.length) return bytes.length;
    const next = bytes[at + 1] as number;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) at++;
    else return at;
  }
}

// --- PNG ------------------------------------------------------------------

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 4, 4: 2, 6: 4 };

/**
 * IHDR gives the size and pixel format; an acTL chunk before the first IDAT
 * makes it an APNG (whose extra frames no decoder here reads). Rows of a
 * plain PNG are streamed; an interlaced (Adam7) one is decoded whole.
 */
function inspectPng(bytes: Uint8Array): ImageShape | null {
  const data = view(bytes);
  if (!ascii(bytes, 12, 'IHDR')) return null;
  const width = data.getUint32(16);
  const height = data.getUint32(20);
  const depth = data.getUint8(24);
  const channels = PNG_CHANNELS[data.getUint8(25)];
  const interlaced = data.getUint8(28) === 1;
  if (width === 0 || height === 0 || channels === undefined) return null;
  let frames = 1;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = data.getUint32(at);
    if (ascii(bytes, at + 4, 'IDAT') || ascii(bytes, at + 4, 'IEND')) break;
    if (ascii(bytes, at + 4, 'acTL')) frames = Math.max(1, data.getUint32(at + 8));
    at += 12 + length;
  }
  const bytesPerPixel = channels * (depth === 16 ? 2 : 1);
  return {
    width,
    height,
    frames,
    framePixels: width * height * frames,
    scans: 1,
    progressive: false,
    bufferedBytes: interlaced ? width * height * bytesPerPixel : 0,
  };
}

// --- GIF ------------------------------------------------------------------

/**
 * The logical screen, then every block: extensions are skipped, each image
 * descriptor is a frame whose rectangle may reach beyond the screen (and
 * then grows the canvas a decoder renders into). The canvas is RGBA, and a
 * decoder keeps a second one for frames that restore the previous state.
 */
function inspectGif(bytes: Uint8Array): ImageShape | null {
  const data = view(bytes);
  let width = data.getUint16(6, true);
  let height = data.getUint16(8, true);
  let at = 13 + colorTableBytes(data.getUint8(10));
  let frames = 0;
  let framePixels = 0;
  while (at < bytes.length) {
    const block = bytes[at];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      at = skipSubBlocks(bytes, at + 2);
    } else if (block === 0x2c) {
      const left = data.getUint16(at + 1, true);
      const top = data.getUint16(at + 3, true);
      const w = data.getUint16(at + 5, true);
      const h = data.getUint16(at + 7, true);
      width = Math.max(width, left + w);
      height = Math.max(height, top + h);
      frames++;
      framePixels += w * h;
      at = skipSubBlocks(bytes, at + 10 + colorTableBytes(data.getUint8(at + 9)) + 1);
    } else {
      break; // not a block: decoders stop here too
    }
  }
  if (frames === 0 || width === 0 || height === 0) return null;
  return {
    width,
    height,
    frames,
    framePixels,
    scans: 1,
    progressive: false,
    bufferedBytes: width * height * 4 * 2,
  };
}

function colorTableBytes(packed: number): number {
  return packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0;
}

/** Past a chain of sub-blocks (length byte, data) ending with a zero length. */
function skipSubBlocks(bytes: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    const length = bytes[at];
    if (length === undefined) return bytes.length;
    at += 1 + length;
    if (length === 0) return at;
  }
}

// --- WebP -----------------------------------------------------------------

/**
 * RIFF chunks: VP8X gives the canvas and says whether it is animated, each
 * ANMF is a frame; a still image's size is in its VP8 or VP8L header. Still
 * images are scaled while decoding; an animation is composed on an RGBA
 * canvas, with a second buffer for the frame being decoded.
 */
function inspectWebp(bytes: Uint8Array): ImageShape | null {
  const data = view(bytes);
  let width = 0;
  let height = 0;
  let canvas = false;
  let frames = 0;
  let framePixels = 0;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const size = data.getUint32(at + 4, true);
    const body = at + 8;
    if (ascii(bytes, at, 'VP8X')) {
      width = uint24(data, body + 4) + 1;
      height = uint24(data, body + 7) + 1;
      canvas = true;
    } else if (ascii(bytes, at, 'ANMF')) {
      const w = uint24(data, body + 6) + 1;
      const h = uint24(data, body + 9) + 1;
      width = Math.max(width, uint24(data, body) * 2 + w);
      height = Math.max(height, uint24(data, body + 3) * 2 + h);
      frames++;
      framePixels += w * h;
    } else if (!canvas && ascii(bytes, at, 'VP8 ')) {
      width = data.getUint16(body + 6, true) & 0x3fff;
      height = data.getUint16(body + 8, true) & 0x3fff;
    } else if (!canvas && ascii(bytes, at, 'VP8L')) {
      const bits = data.getUint32(body + 1, true);
      width = (bits & 0x3fff) + 1;
      height = ((bits >>> 14) & 0x3fff) + 1;
    }
    at = body + size + (size & 1);
  }
  if (width === 0 || height === 0) return null;
  const animated = frames > 0;
  return {
    width,
    height,
    frames: Math.max(1, frames),
    framePixels: animated ? framePixels : width * height,
    scans: 1,
    progressive: false,
    bufferedBytes: animated ? width * height * 4 * 2 : 0,
  };
}

function uint24(data: DataView, at: number): number {
  return data.getUint16(at, true) | (data.getUint8(at + 2) << 16);
}
