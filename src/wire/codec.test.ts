/**
 * The hand-written codec against protobuf-es, over random messages: the same
 * bytes when encoding, the same object when decoding, and, over random
 * damage to those bytes, never a different answer: whatever the hand decoder
 * accepts, the checked protobuf-es path (wire-types.ts, then fromBinary)
 * accepts the same way; the rest it leaves to that path.
 */
import { describe, expect, it } from 'bun:test';
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { sizeDelimitedEncode } from '@bufbuild/protobuf/wire';
import { prng, randomText } from '../../test/support/prng.ts';
import {
  type Request,
  RequestSchema,
  type Response,
  ResponseSchema,
} from '../gen/usermgr/v1/rpc_pb.ts';
import {
  decodeRequest,
  decodeResponse,
  encodeRequestFrame,
  encodeResponseFrame,
  FALLBACK,
  hotRequest,
  hotResponse,
} from './codec.ts';
import { wireTypeMismatch } from './wire-types.ts';

const ITERATIONS = Number(process.env.CODEC_ITERATIONS ?? 3000);

const SEED = Number(process.env.CODEC_SEED ?? 20261203);
const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const chance = (p: number) => random() < p;

const text = () => randomText(random, 0.3, 40);

function uint32(): number {
  const kind = int(5);
  if (kind === 0) return 0;
  if (kind === 1) return int(128);
  if (kind === 2) return int(1 << 16);
  if (kind === 3) return 0xffffffff - int(3);
  return int(2 ** 32);
}

function int64(): bigint {
  const kind = int(6);
  if (kind === 0) return 0n;
  if (kind === 1) return BigInt(int(128));
  if (kind === 2) return BigInt(Date.now() + int(1e9));
  if (kind === 3) return 2n ** 63n - 1n - BigInt(int(5));
  if (kind === 4) return -BigInt(1 + int(1e6));
  return BigInt(int(2 ** 31)) * BigInt(int(2 ** 31));
}

function uint64String(): string {
  const kind = int(5);
  if (kind === 0) return '0';
  if (kind === 1) return String(int(1e6));
  if (kind === 2) return String(2n ** 64n - 1n - BigInt(int(10)));
  if (kind === 3) return String(BigInt(int(2 ** 31)) * BigInt(int(2 ** 31)) + BigInt(int(1e6)));
  return String(2 ** 52 + int(1e6));
}

const bool = () => chance(0.5);

function randomAuth() {
  return { token: text(), ...(chance(0.5) ? { csrfToken: text() } : {}) };
}

function randomUser() {
  return {
    id: uint64String(),
    username: text(),
    nickname: text(),
    picture: text(),
    createdAtMs: int64(),
    updatedAtMs: int64(),
  };
}

function randomRequest(): Request {
  const call = int(4);
  const init: MessageInitShape<typeof RequestSchema> = {
    id: uint32(),
    deadlineMs: uint32(),
    requestId: text(),
    clientIp: text(),
  };
  if (call === 0) {
    init.call = {
      case: 'login',
      value: {
        username: text(),
        password: text(),
        currentToken: text(),
        deviceCookie: text(),
        otp: text(),
        wantTicket: bool(),
        remember: bool(),
        userAgent: text(),
      },
    };
  } else if (call === 1) {
    init.call = {
      case: 'getProfile',
      value: {
        auth: chance(0.9) ? randomAuth() : undefined,
        renew: bool(),
      },
    };
  } else if (call === 2) {
    init.call = {
      case: 'updateNickname',
      value: { auth: chance(0.9) ? randomAuth() : undefined, nickname: text() },
    };
  } else {
    init.call = { case: 'ping', value: {} };
  }
  return create(RequestSchema, init);
}

function randomResponse(): Response {
  const result = int(5);
  const init: MessageInitShape<typeof ResponseSchema> = {
    id: uint32(),
    status: chance(0.1) ? -int(5) : int(16),
    message: text(),
    field: text(),
    retryAfterS: uint32(),
    // The codec leaves these to protobuf-es: both must still give the same bytes and object.
    moreFields: chance(0.02) ? [{ field: text(), message: text() }] : [],
  };
  if (result === 0) {
    init.result = {
      case: 'login',
      value: {
        token: text(),
        expiresAtMs: int64(),
        deviceCookie: text(),
        deviceCookieExpiresAtMs: int64(),
        secondStep: chance(0.3)
          ? { ticket: text(), csrfToken: text(), expiresAtMs: int64() }
          : undefined,
        persistent: bool(),
      },
    };
  } else if (result === 1) {
    init.result = {
      case: 'getProfile',
      value: {
        user: chance(0.9) ? randomUser() : undefined,
        csrfToken: text(),
        renewed: chance(0.3)
          ? { token: text(), expiresAtMs: int64(), persistent: bool() }
          : undefined,
      },
    };
  } else if (result === 2) {
    init.result = { case: 'ping', value: { serverId: text() } };
  } else if (result === 3) {
    init.result = {
      case: 'updateNickname',
      value: { user: chance(0.9) ? randomUser() : undefined },
    };
  }
  return create(ResponseSchema, init);
}

/** Frames from the hand-written encoder are views of its arena; protobuf-es's have a buffer each. */
const byHand = (frame: Uint8Array) => frame.buffer.byteLength >= 64 * 1024;

/** The frame's body: what follows the length header. */
function body(frame: Uint8Array): Uint8Array {
  let i = 0;
  while ((frame[i] as number) & 0x80) i++;
  return frame.subarray(i + 1);
}

/** What the checked protobuf-es path makes of a body: the message, or null if refused. */
function reference<T>(
  schema: typeof RequestSchema | typeof ResponseSchema,
  bytes: Uint8Array,
): T | null {
  if (wireTypeMismatch(schema, bytes) !== null) return null;
  try {
    return fromBinary(schema, bytes, { readUnknownFields: false }) as T;
  } catch {
    return null;
  }
}

/** Random damage: a byte changed, bytes cut off, a byte inserted, or a run of bytes repeated. */
function damage(bytes: Uint8Array): Uint8Array {
  const out = [...bytes];
  const times = 1 + int(3);
  for (let k = 0; k < times; k++) {
    const kind = int(4);
    const i = int(out.length + 1);
    if (kind === 0 && out.length > 0) out[Math.min(i, out.length - 1)] = int(256);
    else if (kind === 1) out.length = Math.min(out.length, i);
    else if (kind === 2) out.splice(i, 0, int(256));
    else out.splice(i, 0, ...out.slice(i, i + 1 + int(8)));
  }
  return new Uint8Array(out);
}

describe('unit: the hand-written codec against protobuf-es', () => {
  /**
   * Random messages: the hand encoder's bytes against protobuf-es's, and the
   * hand decoder's object against fromBinary's. `least` is the share that
   * must go by hand (a string over 4096 characters, a negative int64 or
   * status goes to protobuf-es).
   */
  function roundTrips<M extends Request | Response>(
    kind: string,
    schema: typeof RequestSchema | typeof ResponseSchema,
    random: () => M,
    encode: (message: M) => Uint8Array,
    decode: (bytes: Uint8Array) => M | typeof FALLBACK,
    least: number,
  ): void {
    let handWritten = 0;
    for (let n = 0; n < ITERATIONS; n++) {
      const message = random();
      const expected = sizeDelimitedEncode(schema, message as never);
      const frame = encode(message);
      const same = Buffer.from(frame).equals(Buffer.from(expected));
      expect(same, `${kind} ${n}, seed ${SEED}`).toBe(true);
      if (byHand(frame)) handWritten++;
      const decoded = decode(body(expected));
      // An error naming more than one field is rare: the decoder leaves it to protobuf-es.
      if ('moreFields' in message && message.moreFields.length > 0) {
        expect(decoded).toBe(FALLBACK);
        continue;
      }
      expect(decoded).not.toBe(FALLBACK);
      expect(decoded).toStrictEqual(reference<M>(schema, body(expected)) as M);
    }
    expect(handWritten).toBeGreaterThan(ITERATIONS * least);
  }

  it('should encode random Requests byte for byte as protobuf-es does, and decode them to the same object', () => {
    roundTrips('request', RequestSchema, randomRequest, encodeRequestFrame, decodeRequest, 0.9);
  });

  it('should encode random Responses byte for byte as protobuf-es does, and decode them to the same object', () => {
    roundTrips(
      'response',
      ResponseSchema,
      randomResponse,
      encodeResponseFrame,
      decodeResponse,
      0.5,
    );
  });

  it('should never accept damaged bytes differently from the checked protobuf-es path', () => {
    let accepted = 0;
    for (let n = 0; n < ITERATIONS * 4; n++) {
      const isRequest = chance(0.5);
      const schema = isRequest ? RequestSchema : ResponseSchema;
      const bytes = damage(
        body(
          isRequest
            ? sizeDelimitedEncode(RequestSchema, randomRequest())
            : sizeDelimitedEncode(ResponseSchema, randomResponse()),
        ),
      );
      const decoded = isRequest ? decodeRequest(bytes) : decodeResponse(bytes);
      if (decoded === FALLBACK) continue;
      accepted++;
      expect(decoded, `damaged frame ${n}, seed ${SEED}`).toStrictEqual(
        reference(schema, bytes) as Request | Response,
      );
    }
    // The damage must leave some frames readable, or this compares nothing.
    expect(accepted).toBeGreaterThan(ITERATIONS / 10);
  });

  it('should leave frames with other calls, cancels, handshakes and unknown fields to protobuf-es', () => {
    const cancel = create(RequestSchema, { id: 7, cancel: {} });
    const hello = create(RequestSchema, { id: 0, hello: { nonce: new Uint8Array(32) } });
    const register = create(RequestSchema, {
      id: 3,
      call: { case: 'register', value: { username: 'a', password: 'b' } },
    });
    for (const message of [cancel, hello, register]) {
      const frame = encodeRequestFrame(message);
      expect(
        Buffer.from(frame).equals(Buffer.from(sizeDelimitedEncode(RequestSchema, message))),
      ).toBe(true);
      expect(decodeRequest(body(frame))).toBe(FALLBACK);
    }
    const challenge = create(ResponseSchema, { id: 0, challenge: { idleTimeoutMs: 5 } });
    expect(decodeResponse(body(encodeResponseFrame(challenge)))).toBe(FALLBACK);
    // Field 99, a varint: unknown to this side.
    const login = body(sizeDelimitedEncode(RequestSchema, randomRequest()));
    expect(decodeRequest(new Uint8Array([...login, 0x98, 0x06, 0x01]))).toBe(FALLBACK);
  });

  it('should write frames that stay intact while later frames are written', () => {
    const frames: Uint8Array[] = [];
    const expected: Uint8Array[] = [];
    // Enough frames to go through several arenas.
    for (let n = 0; n < 2000; n++) {
      const message = randomResponse();
      frames.push(encodeResponseFrame(message));
      expected.push(sizeDelimitedEncode(ResponseSchema, message));
    }
    for (const [i, frame] of frames.entries())
      expect(Buffer.from(frame).equals(Buffer.from(expected[i] as Uint8Array))).toBe(true);
  });

  it('should build the hot messages from random init shapes as create() does', () => {
    /** Leaves some fields out, sets others to null or undefined, as a caller may. */
    const thin = (o: Record<string, unknown>): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(o)) {
        const kind = int(6);
        if (kind === 0) continue;
        if (kind === 1) out[key] = null;
        else if (kind === 2) out[key] = undefined;
        else if (value !== null && typeof value === 'object' && '$typeName' in value && chance(0.5))
          out[key] = thin({ ...(value as Record<string, unknown>) });
        else out[key] = value;
      }
      return out;
    };
    let built = 0;
    for (let n = 0; n < ITERATIONS; n++) {
      const request = randomRequest();
      const call = request.call;
      if (call.case === undefined) continue;
      // Sometimes the message as created, sometimes a plain init shape.
      const value = chance(0.2) ? call.value : thin({ ...call.value });
      const init = {
        requestId: request.requestId,
        clientIp: request.clientIp,
        call: { case: call.case, value },
      };
      const hot = hotRequest(call.case, value, request.requestId, request.clientIp);
      expect(hot, `request ${n}, seed ${SEED}`).toStrictEqual(
        create(RequestSchema, init as MessageInitShape<typeof RequestSchema>),
      );
      built++;

      const response = randomResponse();
      const result = response.result;
      if (result.case === undefined) continue;
      const resultValue = chance(0.2) ? result.value : thin({ ...result.value });
      const expected = create(ResponseSchema, {
        id: response.id,
        status: 1,
        result: { case: result.case, value: resultValue },
      } as MessageInitShape<typeof ResponseSchema>);
      expect(
        hotResponse(response.id, 1, result.case, resultValue),
        `response ${n}, seed ${SEED}`,
      ).toStrictEqual(expected);
    }
    expect(built).toBeGreaterThan(ITERATIONS / 2);
    expect(hotRequest('register', {}, '', '')).toBeNull();
    expect(hotResponse(1, 1, 'register', {})).toBeNull();
  });
});
