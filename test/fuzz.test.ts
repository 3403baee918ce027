/**
 * Fuzzing the frame decoder and the request dispatcher with random bytes and
 * with valid frames mutated at random (bit flips, truncation, splices,
 * length-prefix damage). No exception may escape, every decoded request must
 * be answered with a status of the closed enum, the server must keep serving,
 * and memory must stay bounded.
 *
 * CI runs a fixed seed and a short run. By hand, longer and other seeds:
 *   FUZZ_SEED=12345 FUZZ_ITERATIONS=200000 bun test test/fuzz.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { type Request, RequestSchema, ResponseSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import { silentLogger } from '../src/log.ts';
import { encodeFrame, FrameDecoder, FrameError } from '../src/wire/frame.ts';
import { Status } from '../src/wire/status.ts';
import { type Stack, startStack } from './fixture.ts';
import { prng } from './support/prng.ts';
import { pingFrame, rawClient } from './support/raw.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3000);

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
const text = () => {
  const pool = [
    '',
    'alice',
    'user123',
    'x'.repeat(int(300)),
    '名前 🎉',
    '\u0000',
    '\ud800',
    "' OR 1=1 --",
    '<script>',
  ];
  return pool[int(pool.length)] as string;
};

/** A valid request of a random call with random field values. */
function randomRequest(id: number): Request {
  const auth = { token: text(), csrfToken: random() < 0.5 ? text() : undefined };
  const calls = [
    { case: 'ping', value: {} },
    { case: 'register', value: { username: text(), password: text(), nickname: text() } },
    { case: 'login', value: { username: text(), password: text(), currentToken: text() } },
    { case: 'getProfile', value: { auth } },
    { case: 'updateNickname', value: { auth, nickname: text() } },
    { case: 'logout', value: { auth } },
    { case: 'logoutAll', value: { auth } },
    { case: 'setPicture', value: { auth, image: bytes(int(64)) } },
    { case: 'getPicture', value: { name: text() } },
    { case: 'adminGetUser', value: { adminToken: text(), id: String(int(1e9)) } },
    {
      case: 'adminListUsers',
      value: { adminToken: text(), limit: int(1000), cursor: text(), usernamePrefix: text() },
    },
  ];
  return create(RequestSchema, {
    id,
    // 0 (server default) or long enough that every request is answered, not skipped.
    deadlineMs: int(3) === 0 ? 0 : 1000 + int(4000),
    requestId: text(),
    clientIp: text(),
    call: calls[int(calls.length)] as never,
  });
}

/** A valid frame damaged in one of several ways. */
function mutate(frame: Uint8Array): Uint8Array {
  const out = Uint8Array.from(frame);
  switch (int(5)) {
    case 0: // flip some bits
      for (let k = 0; k < 1 + int(4); k++) {
        const at = int(out.length);
        out[at] = (out[at] as number) ^ (1 << int(8));
      }
      return out;
    case 1: // truncate
      return out.subarray(0, int(out.length));
    case 2: // splice random bytes in
      return Buffer.concat([
        out.subarray(0, int(out.length)),
        bytes(int(16)),
        out.subarray(int(out.length)),
      ]);
    case 3: // damage the length prefix
      out[0] = int(256);
      return out;
    default: // a frame of random bytes with a correct length prefix
      return encodeRaw(bytes(int(200)));
  }
}

function encodeRaw(body: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let n = body.length;
  do {
    prefix.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Uint8Array.from(prefix), body]);
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { TCP_PARTIAL_FRAME_TIMEOUT_MS: '200' } });
});
afterAll(() => stack?.stop());

describe('fuzz: frame decoder and dispatcher', () => {
  it(`should never throw from the decoder on random and mutated streams (seed ${SEED})`, () => {
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    let frames = 0;
    let errors = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const decoder = new FrameDecoder(RequestSchema, 64 * 1024);
      const stream =
        random() < 0.3 ? bytes(int(512)) : mutate(encodeFrame(RequestSchema, randomRequest(i + 1)));
      // Feed it in random splits, as the network would.
      let pos = 0;
      while (pos < stream.length) {
        const size = 1 + int(64);
        const result = decoder.push(stream.subarray(pos, pos + size));
        pos += size;
        if (result instanceof FrameError) {
          errors++;
          break;
        }
        frames += result.length;
      }
      decoder.end();
    }
    Bun.gc(true);
    const grownMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(frames + errors).toBeGreaterThan(ITERATIONS / 10);
    expect(grownMb).toBeLessThan(32);
  });

  it('should answer every decodable request with a closed status, and keep serving after any stream', async () => {
    const statuses = new Set(Object.values(Status).filter((v) => typeof v === 'number'));
    let answered = 0;
    const rounds = Math.max(10, Math.floor(ITERATIONS / 100));
    for (let round = 0; round < rounds; round++) {
      const client = await rawClient(stack.tcpPort);
      const valid = Array.from({ length: 20 }, (_, k) => randomRequest(round * 100 + k + 1));
      // Valid requests first, then (sometimes) damage that closes the connection.
      client.write(Buffer.concat(valid.map((r) => encodeFrame(RequestSchema, r))));
      const responses = await client
        .waitFor(valid.length - valid.filter((r) => r.deadlineMs === 1).length, 10_000)
        .catch(() => client.responses);
      for (const response of responses) {
        expect(statuses.has(response.status)).toBe(true);
        expect(toBinary(ResponseSchema, response).length).toBeGreaterThan(0);
      }
      answered += responses.length;
      if (random() < 0.7) client.write(mutate(encodeFrame(RequestSchema, randomRequest(1))));
      client.socket.end();
    }
    expect(answered).toBeGreaterThan(rounds * 10);

    // Still serving: a clean connection gets its ping answered.
    const clean = await rawClient(stack.tcpPort);
    clean.write(pingFrame(7));
    const [pong] = await clean.waitFor(1);
    expect(pong?.status).toBe(Status.OK);
    clean.socket.end();
    expect((await stack.fetch('/readyz')).status).toBe(200);
    silentLogger.info('fuzzed');
  });
});
