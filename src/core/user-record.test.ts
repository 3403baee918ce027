/**
 * The hand-written cache record codec against protobuf-es, over random rows:
 * the same bytes when encoding, the same row when decoding, and, over random
 * damage to those bytes, never a different answer: whatever the hand
 * decoder accepts, protobuf-es reads the same way; the rest it leaves to it.
 */
import { describe, expect, it } from 'bun:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { prng, randomText } from '../../test/support/prng.ts';
import { UserRecordSchema } from '../gen/usermgr/v1/record_pb.ts';
import type { UserRow } from '../store/port.ts';
import {
  decode,
  decodeByHand,
  decodeReference,
  encode,
  encodeByHand,
  encodeReference,
} from './user-record.ts';

const ITERATIONS = Number(process.env.CODEC_ITERATIONS ?? 3000);
const SEED = Number(process.env.CODEC_SEED ?? 20261203);
const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const chance = (p: number) => random() < p;

const text = () => randomText(random, 0.2, 100);

function id(): string {
  const kind = int(6);
  if (kind === 0) return '0';
  if (kind === 1) return String(1 + int(1e6));
  if (kind === 2) return String(2n ** 64n - 1n - BigInt(int(10)));
  if (kind === 3) return String(BigInt(int(2 ** 31)) * BigInt(int(2 ** 31)) + BigInt(int(1e6)));
  if (kind === 4) return String(2 ** 52 + int(1e6));
  return String(BigInt(Date.now() - 1735689600000) * 4194304n + BigInt(int(4194304))); // a snowflake
}

function time(): number {
  const kind = int(5);
  if (kind === 0) return 0;
  if (kind === 1) return int(128);
  if (kind === 2) return Date.now() + int(1e9);
  if (kind === 3) return Number.MAX_SAFE_INTEGER - int(5);
  return int(2 ** 31) * int(2 ** 20);
}

function randomRow(): UserRow {
  return {
    id: id(),
    username: text(),
    nickname: text(),
    passwordHash: text(),
    picture: text(),
    sessionsValidAfterMs: time(),
    createdAtMs: time(),
    updatedAtMs: time(),
    totpSecret: text(),
    version: chance(0.1) ? 0 : int(2 ** 31) * (chance(0.1) ? 2 ** 20 : 1),
  };
}

/** Where the record starts (after `v<version>:`) and its version. */
function prefix(value: Uint8Array): { start: number; version: number } {
  const start = value.indexOf(0x3a) + 1;
  return { start, version: Number(Buffer.from(value.subarray(1, start - 1)).toString()) };
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

function referenceOrError(record: Uint8Array, version: number): UserRow | Error {
  try {
    return decodeReference(record, version);
  } catch (error) {
    return error as Error;
  }
}

describe('unit: the cache record codec against protobuf-es', () => {
  it('should encode random rows byte for byte as protobuf-es does, and decode them to the same row', () => {
    for (let n = 0; n < ITERATIONS; n++) {
      const row = randomRow();
      const expected = encodeReference(row);
      const byHand = encodeByHand(row);
      expect(byHand, `row ${n}, seed ${SEED}`).not.toBeNull();
      expect(Buffer.from(byHand as Buffer).equals(expected), `row ${n}, seed ${SEED}`).toBe(true);
      const { start, version } = prefix(expected);
      expect(version).toBe(row.version);
      const decoded = decodeByHand(expected, start, version);
      expect(decoded, `row ${n}, seed ${SEED}`).not.toBeNull();
      expect(decoded).toStrictEqual(decodeReference(expected.subarray(start), version));
    }
  });

  it('should never read damaged bytes differently from protobuf-es', () => {
    let accepted = 0;
    for (let n = 0; n < ITERATIONS * 4; n++) {
      const value = encodeReference(randomRow());
      const { start, version } = prefix(value);
      const record = damage(value.subarray(start));
      const decoded = decodeByHand(record, 0, version);
      if (decoded === null) continue;
      accepted++;
      expect(decoded, `damaged record ${n}, seed ${SEED}`).toStrictEqual(
        referenceOrError(record, version) as UserRow,
      );
    }
    // The damage must leave some records readable, or this compares nothing.
    expect(accepted).toBeGreaterThan(ITERATIONS / 10);
  });

  it('should leave to protobuf-es what it does not write or read as protobuf-es would', () => {
    const row = randomRow();
    for (const odd of [
      { ...row, id: '18446744073709551616' }, // 2^64
      { ...row, id: 'x1' },
      { ...row, createdAtMs: -1 },
      { ...row, updatedAtMs: 1.5 },
      { ...row, sessionsValidAfterMs: 2 ** 53 },
    ]) {
      expect(encodeByHand(odd)).toBeNull();
    }
    // An unknown field (from a newer schema), a negative time, a field twice.
    const unknown = new Uint8Array([
      ...toBinary(UserRecordSchema, create(UserRecordSchema, { username: 'a' })),
      0x50,
      1,
    ]);
    const negative = toBinary(UserRecordSchema, create(UserRecordSchema, { createdAtMs: -5n }));
    const twice = new Uint8Array([0x12, 1, 0x61, 0x12, 1, 0x62]);
    for (const record of [unknown, negative, twice]) {
      expect(decodeByHand(record, 0, 0)).toBeNull();
      expect(decode(record)).toStrictEqual(decodeReference(record, 0));
    }
    expect(decode(twice).username).toBe('b'); // protobuf-es: the last one wins
  });

  it('should read a value cached before versions as version 0', () => {
    const row: UserRow = {
      id: '7301848473174016',
      username: 'Ada',
      nickname: 'Ада',
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: 1764720000000,
      updatedAtMs: 1764720000001,
      totpSecret: '',
      version: 0,
    };
    const record = encode(row).subarray(3); // without "v0:"
    expect(decode(record)).toStrictEqual(row);
  });
});
