/**
 * Framing: one frame = unsigned varint byte length + that many bytes of one
 * protobuf message (the size-delimited format of protobuf-es).
 *
 * FrameDecoder is incremental: feed it chunks as they arrive, in any split,
 * and it returns the complete messages. Invariants:
 * - at most one partial frame is held: the varint header bytes seen so far,
 *   or a body buffer, allocated only after the declared size was checked
 *   against the maximum, and grown with the bytes that arrive (doubling, up
 *   to the declared size), so what a peer costs is what it sent, not what it
 *   declared; the buffer is dropped as soon as its frame is decoded, or by
 *   release() when the connection closes;
 * - a stream error (varint over 10 bytes, size over the maximum, a frame that
 *   does not decode, or one with a field of the wrong wire type) is returned
 *   as a value and poisons the decoder: the connection is unusable after it
 *   and must be closed.
 */
import { type DescMessage, fromBinary, type MessageShape } from '@bufbuild/protobuf';
import { sizeDelimitedEncode } from '@bufbuild/protobuf/wire';
import { RequestSchema, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import {
  decodeRequest,
  decodeResponse,
  encodeRequestFrame,
  encodeResponseFrame,
  FALLBACK,
} from './codec.ts';
import { wireTypeMismatch } from './wire-types.ts';

/** Default cap on one frame: enough for a picture upload. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** The first buffer of a partial frame; it doubles as bytes arrive. */
const FIRST_BODY_BYTES = 64 * 1024;

/** A broken stream. A value, not an exception: bad input from a peer is expected. */
export class FrameError {
  constructor(readonly reason: string) {}
}

const MAX_VARINT_BYTES = 10;
const readOptions = { readUnknownFields: false } as const;

/**
 * One frame. Requests and Responses go through the hand-written codec
 * (codec.ts), which writes the hot envelopes itself and hands the rest to
 * protobuf-es; the frame may be a view of a shared arena, never reused.
 */
export function encodeFrame<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): Uint8Array {
  const desc: DescMessage = schema;
  if (desc === RequestSchema)
    return encodeRequestFrame(message as MessageShape<typeof RequestSchema>);
  if (desc === ResponseSchema)
    return encodeResponseFrame(message as MessageShape<typeof ResponseSchema>);
  return sizeDelimitedEncode(schema, message);
}

/** The hand-written decoder for a schema, if it has one. */
function fastDecoderOf(schema: DescMessage): ((bytes: Uint8Array) => unknown) | null {
  if (schema === RequestSchema) return decodeRequest;
  if (schema === ResponseSchema) return decodeResponse;
  return null;
}

export class FrameDecoder<Desc extends DescMessage> {
  // Header state: the varint value so far and how many of its bytes were read.
  // A hand-rolled varint reader rather than sizeDelimitedPeek: the peek needs
  // the whole header in one buffer and reads it as a uint32, so a hostile
  // 5-byte length of 2^32 + 5 would wrap to 5 instead of being refused.
  private size = 0;
  private headerBytes = 0;
  // Body state: the frame being filled, once its header is complete, and its
  // declared size (the buffer may still be smaller).
  private body: Uint8Array | null = null;
  private bodySize = 0;
  private filled = 0;
  private failed: FrameError | null = null;
  private readonly fast: ((bytes: Uint8Array) => unknown) | null;

  constructor(
    private readonly schema: Desc,
    readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
  ) {
    this.fast = fastDecoderOf(schema);
  }

  /** True when part of a frame has been received but not all of it. */
  get midFrame(): boolean {
    return this.headerBytes > 0 || this.body !== null;
  }

  /** Bytes of the partial frame received so far (its header's, until the header is complete). */
  get frameBytesReceived(): number {
    return this.body === null ? this.headerBytes : this.filled;
  }

  /** Bytes held for the partial frame (its buffer's size). */
  get bufferedBytes(): number {
    return this.body?.length ?? 0;
  }

  /** Drops the partial frame: the connection is gone. The decoder is unusable after it. */
  release(): void {
    this.fail('connection closed');
  }

  /**
   * Decodes every message completed by `chunk`. Messages decoded straight
   * from the chunk may share its memory (bytes fields are views), so the
   * caller must not reuse the chunk's buffer while they are alive.
   */
  push(chunk: Uint8Array): MessageShape<Desc>[] | FrameError {
    if (this.failed) return this.failed;
    const out: MessageShape<Desc>[] = [];
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.body === null) {
        // Read the header one byte at a time; it may span chunks.
        const byte = chunk[pos++] as number;
        this.size += (byte & 0x7f) * 2 ** (7 * this.headerBytes);
        this.headerBytes++;
        if (byte & 0x80) {
          if (this.headerBytes >= MAX_VARINT_BYTES)
            return this.fail('frame length varint over 10 bytes');
          continue;
        }
        const size = this.size;
        this.size = 0;
        this.headerBytes = 0;
        if (size > this.maxFrameBytes) {
          return this.fail(`frame of ${size} bytes over the maximum of ${this.maxFrameBytes}`);
        }
        if (end - pos >= size) {
          // The whole frame is in this chunk: decode it in place, no copy.
          const message = this.decode(chunk.subarray(pos, pos + size));
          if (typeof message === 'string') return this.fail(message);
          out.push(message);
          pos += size;
          continue;
        }
        this.body = new Uint8Array(Math.min(size, Math.max(FIRST_BODY_BYTES, end - pos)));
        this.bodySize = size;
        this.filled = 0;
      }
      const take = Math.min(end - pos, this.bodySize - this.filled);
      if (this.filled + take > this.body.length) this.grow(this.filled + take);
      this.body.set(chunk.subarray(pos, pos + take), this.filled);
      this.filled += take;
      pos += take;
      if (this.filled === this.bodySize) {
        const message = this.decode(this.body);
        this.body = null;
        if (typeof message === 'string') return this.fail(message);
        out.push(message);
      }
    }
    return out;
  }

  /** At least `needed` bytes, doubling, at most the declared size. */
  private grow(needed: number): void {
    const body = this.body as Uint8Array;
    const next = new Uint8Array(Math.min(this.bodySize, Math.max(needed, body.length * 2)));
    next.set(body.subarray(0, this.filled));
    this.body = next;
  }

  /** Call when the stream ends: a partial frame left over is an error. */
  end(): FrameError | null {
    if (this.failed) return this.failed;
    return this.midFrame ? this.fail('stream ended inside a frame') : null;
  }

  /** The message, or why the bytes are not one. */
  private decode(bytes: Uint8Array): MessageShape<Desc> | string {
    // The hot envelopes, read by hand; anything it is unsure of goes the checked way below.
    if (this.fast !== null) {
      const message = this.fast(bytes);
      if (message !== FALLBACK) return message as MessageShape<Desc>;
    }
    // protobuf-es reads a declared field as its declared type whatever its
    // wire type, so a wrong one could decode to some other valid-looking
    // request: check first (its cost: bench/RESULTS.md, "Small costs quoted by the code").
    const mismatch = wireTypeMismatch(this.schema, bytes);
    if (mismatch !== null) return `frame is not a valid message: ${mismatch}`;
    try {
      return fromBinary(this.schema, bytes, readOptions);
    } catch {
      return 'frame is not a valid message';
    }
  }

  private fail(reason: string): FrameError {
    this.failed = new FrameError(reason);
    this.body = null;
    return this.failed;
  }
}
