import { describe, expect, it } from 'bun:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { type Request, RequestSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { encodeFrame, FrameDecoder, FrameError } from './frame.ts';

function request(id: number, username: string): Request {
  return create(RequestSchema, {
    id,
    deadlineMs: 1000,
    call: { case: 'login', value: { username, password: `pw-${'x'.repeat(id % 300)}` } },
  });
}

const messages = [request(1, 'alice'), request(2, 'bob'), request(300, '名前 🎉'), request(0, '')];
const stream = Buffer.concat(messages.map((m) => encodeFrame(RequestSchema, m)));

function ids(decoded: Request[]): number[] {
  return decoded.map((m) => m.id);
}

function feed(decoder: FrameDecoder<typeof RequestSchema>, chunks: Uint8Array[]): Request[] {
  const out: Request[] = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    if (result instanceof FrameError) throw new Error(result.reason);
    out.push(...result);
  }
  return out;
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

describe('unit: FrameDecoder', () => {
  it('should decode a whole stream in one chunk', () => {
    const decoded = feed(new FrameDecoder(RequestSchema), [stream]);
    expect(decoded).toEqual(messages);
  });

  it('should yield the same messages when the stream is split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder(RequestSchema);
      const decoded = feed(decoder, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(decoded).toEqual(messages);
      expect(decoder.end()).toBeNull();
    }
  });

  it('should yield the same messages fed in 1- and 2-byte chunks', () => {
    for (const size of [1, 2]) {
      const decoder = new FrameDecoder(RequestSchema);
      expect(feed(decoder, chunked(stream, size))).toEqual(messages);
      expect(decoder.end()).toBeNull();
    }
  });

  it('should decode a frame that spans many chunks into a buffer of its declared size', () => {
    const big = create(RequestSchema, {
      id: 7,
      call: { case: 'setPicture', value: { image: new Uint8Array(200_000).fill(7) } },
    });
    const decoded = feed(
      new FrameDecoder(RequestSchema),
      chunked(encodeFrame(RequestSchema, big), 4096),
    );
    expect(ids(decoded)).toEqual([7]);
    const call = decoded[0]?.call;
    expect(call?.case === 'setPicture' && call.value.image.length).toBe(200_000);
  });

  it('should reject a varint longer than 10 bytes', () => {
    const decoder = new FrameDecoder(RequestSchema);
    const result = decoder.push(new Uint8Array(11).fill(0x80));
    expect(result).toBeInstanceOf(FrameError);
    expect((result as FrameError).reason).toContain('varint');
  });

  it('should reject a length over the maximum before allocating it', () => {
    const decoder = new FrameDecoder(RequestSchema, 1024);
    // 2^32 - 1: a 5-byte varint.
    const result = decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(result).toBeInstanceOf(FrameError);
    expect(decoder.midFrame).toBe(false);
  });

  it('should not let a 5-byte length of 2^32 + 5 wrap around to 5', () => {
    const decoder = new FrameDecoder(RequestSchema);
    const result = decoder.push(new Uint8Array([0x85, 0x80, 0x80, 0x80, 0x10, 1, 2, 3, 4, 5]));
    expect(result).toBeInstanceOf(FrameError);
  });

  it('should accept a frame of exactly the maximum size and refuse one byte more', () => {
    const payload = toBinary(RequestSchema, request(5, 'x'));
    const exact = new FrameDecoder(RequestSchema, payload.length);
    expect(ids(feed(exact, [encodeFrame(RequestSchema, request(5, 'x'))]))).toEqual([5]);
    const smaller = new FrameDecoder(RequestSchema, payload.length - 1);
    expect(smaller.push(encodeFrame(RequestSchema, request(5, 'x')))).toBeInstanceOf(FrameError);
  });

  it('should report a frame truncated at the end of the stream', () => {
    const decoder = new FrameDecoder(RequestSchema);
    feed(decoder, [stream.subarray(0, stream.length - 3)]);
    expect(decoder.end()).toBeInstanceOf(FrameError);
  });

  it('should reject bytes that are not a message, and stay failed', () => {
    const decoder = new FrameDecoder(RequestSchema);
    // Length 3, then field 1 with wire type 7 (invalid).
    expect(decoder.push(new Uint8Array([3, 0x0f, 0xff, 0xff]))).toBeInstanceOf(FrameError);
    expect(decoder.push(encodeFrame(RequestSchema, request(1, 'a')))).toBeInstanceOf(FrameError);
  });

  it('should decode an empty frame as a default message', () => {
    const decoded = feed(new FrameDecoder(RequestSchema), [new Uint8Array([0])]);
    expect(decoded).toEqual([create(RequestSchema)]);
  });
});
