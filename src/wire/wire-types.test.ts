import { describe, expect, it } from 'bun:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { RequestSchema, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { Status } from './status.ts';
import { wireTypeMismatch } from './wire-types.ts';

const login = toBinary(
  RequestSchema,
  create(RequestSchema, {
    id: 300,
    deadlineMs: 5000,
    requestId: 'req-1',
    clientIp: '127.0.0.1',
    call: { case: 'login', value: { username: 'alice', password: 'pw', currentToken: 't' } },
  }),
);

describe('unit: wireTypeMismatch', () => {
  it('should pass valid requests and responses, nested messages, repeated fields and large bytes', () => {
    const listed = create(ResponseSchema, {
      id: 1,
      status: Status.OK,
      result: {
        case: 'adminListUsers',
        value: {
          users: [
            { id: '250558285122371584', username: 'a', createdAtMs: 1n },
            { id: '1', username: 'b', updatedAtMs: -1n },
          ],
          nextCursor: 'c',
        },
      },
    });
    const picture = create(RequestSchema, {
      id: 2,
      call: { case: 'setPicture', value: { auth: { token: 't' }, image: new Uint8Array(1 << 20) } },
    });
    expect(wireTypeMismatch(RequestSchema, login)).toBeNull();
    expect(wireTypeMismatch(ResponseSchema, toBinary(ResponseSchema, listed))).toBeNull();
    expect(wireTypeMismatch(RequestSchema, toBinary(RequestSchema, picture))).toBeNull();
    expect(wireTypeMismatch(RequestSchema, new Uint8Array())).toBeNull();
  });

  it('should skip unknown fields of every wire type a proto3 peer can send', () => {
    // Field 999 as varint, 64-bit, length-delimited and 32-bit, then the login request.
    const unknown = [
      0xb8,
      0x3e,
      0x96,
      0x01,
      0xb9,
      0x3e,
      ...Array(8).fill(1),
      0xba,
      0x3e,
      0x02,
      7,
      7,
    ];
    const bytes = Uint8Array.from([...unknown, 0xbd, 0x3e, 1, 2, 3, 4, ...login]);
    expect(wireTypeMismatch(RequestSchema, bytes)).toBeNull();
    expect(fromBinary(RequestSchema, bytes).id).toBe(300);
  });

  it.each([
    // What protobuf-es would otherwise decode, silently, as something else.
    [
      'a message call sent as a varint (decodes as an empty Ping)',
      [0x08, 0x05, 0x80, 0x01, 0x00],
      'field 16 has wire type 0, not 2',
    ],
    ['a string sent as a varint', [0x18, 0x03, 0x61, 0x62, 0x63], 'field 3 has wire type 0, not 2'],
    ['a uint32 sent length-delimited', [0x0a, 0x01, 0x07], 'field 1 has wire type 2, not 0'],
    ['a uint32 sent as 32 bits', [0x0d, 1, 0, 0, 0], 'field 1 has wire type 5, not 0'],
    // Inside a nested message: LoginRequest.username (1) as 64 bits.
    [
      'a nested string sent as 64 bits',
      [0x92, 0x01, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8],
      'field 1 has wire type 1, not 2',
    ],
    ['a group', [0x0b, 0x0c], 'field 1 has wire type 3, not 0'],
    ['an unknown group', [0xbb, 0x3e, 0xbc, 0x3e], 'field 999 cannot be read'],
    ['field number 0', [0x00, 0x01], 'a tag has field number 0 or over 2^29'],
    [
      'a tag over 32 bits',
      [0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      'a tag has field number 0 or over 2^29',
    ],
    [
      'a nested message longer than its parent',
      [0x92, 0x01, 0x03, 0x0a, 0x09, 0x61],
      'field 1 runs past the end of its message',
    ],
    ['a length past the end', [0x1a, 0x05, 0x61], 'field 3 runs past the end of its message'],
    ['a varint that never ends', [0x08, 0xff, 0xff], 'field 1 cannot be read'],
  ])('should refuse %s', (_name, bytes, reason) => {
    expect(wireTypeMismatch(RequestSchema, Uint8Array.from(bytes))).toBe(reason);
  });
});
