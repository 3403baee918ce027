/**
 * The cache value of a user row: `v<version>:` then the UserRecord protobuf
 * (record.proto stays the schema; protobuf-es stays the reference). Written
 * on every write-through and miss fill, read on every cache hit (each login
 * and session check), so both directions are hand-coded. Invariants:
 * - encode() writes the bytes protobuf-es's toBinary writes (fields in
 *   number order, zero values left out, strings as TextEncoder writes them,
 *   lone surrogates as U+FFFD); a row it cannot write that way (an id that
 *   is not a decimal uint64, a time that is not a safe non-negative integer)
 *   goes to protobuf-es, which writes or refuses it as before;
 * - decode() gives the row protobuf-es's fromBinary gives, or leaves the
 *   value to it when unsure: an unknown field, a field of the wrong wire
 *   type or seen twice, a varint longer than its value needs, a time beyond
 *   2^53, a length past the end, text that is not strict UTF-8. A hostile or
 *   old value therefore reads exactly as before (user-record.test.ts holds
 *   both equal over random rows and random damage to their bytes).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type UserRecord, UserRecordSchema } from '../gen/usermgr/v1/record_pb.ts';
import type { UserRow } from '../store/port.ts';
import { textOf } from '../wire/text.ts';

const V = 0x76; // 'v'
const COLON = 0x3a;
const readOptions = { readUnknownFields: false } as const;
const TWO_32 = 0x100000000;

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const VARINT = 0;
const LEN = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

/** The cache value of a row: `v<version>:` then the record. */
export function encode(row: UserRow): Buffer {
  return encodeByHand(row) ?? encodeReference(row);
}

/** A cached row (not a marker); without the version prefix, version 0. */
export function decode(value: Uint8Array): UserRow {
  let version = 0;
  let start = 0;
  if (value[0] === V) {
    start = value.indexOf(COLON, 1) + 1;
    for (let i = 1; i < start - 1; i++) version = version * 10 + ((value[i] as number) - 48);
  }
  return decodeByHand(value, start, version) ?? decodeReference(value.subarray(start), version);
}

export function encodeReference(row: UserRow): Buffer {
  return Buffer.concat([
    Buffer.from(`v${row.version}:`, 'latin1'),
    toBinary(
      UserRecordSchema,
      create(UserRecordSchema, {
        id: row.id,
        username: row.username,
        nickname: row.nickname,
        passwordHash: row.passwordHash,
        picture: row.picture,
        totpSecret: row.totpSecret,
        sessionsValidAfterMs: BigInt(row.sessionsValidAfterMs),
        createdAtMs: BigInt(row.createdAtMs),
        updatedAtMs: BigInt(row.updatedAtMs),
      }),
    ),
  ]);
}

/** The row protobuf-es reads from a record (`record`: the bytes after the prefix). */
export function decodeReference(record: Uint8Array, version: number): UserRow {
  const m: UserRecord = fromBinary(UserRecordSchema, record, readOptions);
  return {
    id: m.id,
    username: m.username,
    nickname: m.nickname,
    passwordHash: m.passwordHash,
    picture: m.picture,
    sessionsValidAfterMs: Number(m.sessionsValidAfterMs),
    createdAtMs: Number(m.createdAtMs),
    updatedAtMs: Number(m.updatedAtMs),
    totpSecret: m.totpSecret,
    version,
  };
}

// ---------------------------------------------------------------- encoding

/** Where a value is written before it is copied out at its exact size; grown for a long row. */
let scratch = Buffer.allocUnsafe(1024);
let pos = 0;

function varint(value: number): void {
  // A number up to 2^53: division, not bit operators, above 2^31.
  while (value > 0x7f) {
    scratch[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  scratch[pos++] = value;
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** An int64 time: false when protobuf-es would not write it as this does. */
function timeField(tagByte: number, value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0) return false;
  if (value === 0) return true;
  scratch[pos++] = tagByte;
  varint(value);
  return true;
}

/** The id, a decimal uint64 string: false when it is not one (protobuf-es decides). */
function idField(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > 20) return false;
  // A digit at a time into lo and hi (base 2^32): lo * 10 + 9 stays exact.
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    lo = lo * 10 + digit;
    const carry = Math.floor(lo / TWO_32);
    lo -= carry * TWO_32;
    hi = hi * 10 + carry;
  }
  if (hi >= TWO_32) return false; // beyond 2^64
  if (lo === 0 && hi === 0) return true; // zero ("0", "00"): left out, as protobuf-es does
  scratch[pos++] = tag(1, VARINT);
  // Seven bits at a time from a 64-bit value held as hi * 2^32 + lo.
  while (hi > 0 || lo > 0x7f) {
    scratch[pos++] = (lo & 0x7f) | 0x80;
    lo = (lo >>> 7) | ((hi & 0x7f) << 25);
    lo >>>= 0;
    hi = Math.floor(hi / 0x80);
  }
  scratch[pos++] = lo;
  return true;
}

function stringField(tagByte: number, value: string): void {
  const length = value.length;
  if (length === 0) return;
  scratch[pos++] = tagByte;
  // Most text is ASCII, where the length in bytes is the length in units.
  let header = varintSize(length);
  let p = pos + header;
  let i = 0;
  for (; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x80) break;
    scratch[p++] = code;
  }
  if (i < length) {
    // Not ASCII: room for three bytes a unit, the length moved back after.
    header = varintSize(length * 3);
    p = pos + header;
    // As TextEncoder: a lone surrogate as U+FFFD (user-record.test.ts holds it so).
    p += scratch.write(value, p, 'utf8');
  }
  const bytes = p - pos - header;
  const size = varintSize(bytes);
  if (size !== header) scratch.copyWithin(pos + size, pos + header, p);
  varint(bytes);
  pos += bytes;
}

export function encodeByHand(row: UserRow): Buffer | null {
  const texts =
    row.username.length +
    row.nickname.length +
    row.passwordHash.length +
    row.picture.length +
    row.totpSecret.length;
  // Prefix, id and times take under 80 bytes; a text at most 3 a unit and 6 of header.
  const bound = 80 + texts * 3 + 5 * 6;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound * 2);
  if (!Number.isSafeInteger(row.version) || row.version < 0) return null;
  pos = 0;
  scratch[pos++] = V;
  const digits = String(row.version);
  for (let i = 0; i < digits.length; i++) scratch[pos++] = digits.charCodeAt(i);
  scratch[pos++] = COLON;
  if (!idField(row.id)) return null;
  stringField(tag(2, LEN), row.username);
  stringField(tag(3, LEN), row.nickname);
  stringField(tag(4, LEN), row.passwordHash);
  stringField(tag(5, LEN), row.picture);
  if (!timeField(tag(6, VARINT), row.sessionsValidAfterMs)) return null;
  if (!timeField(tag(7, VARINT), row.createdAtMs)) return null;
  if (!timeField(tag(8, VARINT), row.updatedAtMs)) return null;
  stringField(tag(9, LEN), row.totpSecret);
  const value = Buffer.allocUnsafe(pos);
  value.set(scratch.subarray(0, pos));
  return value;
}

// ---------------------------------------------------------------- decoding

/** Thrown inside decodeByHand, caught at its top: only for values left to protobuf-es. */
class Unsure {}
const unsure = new Unsure();

let input: Uint8Array = new Uint8Array(0);
let at = 0;

/** A varint of up to 2^53 - 1 in its shortest form, as a number. */
function readVarint(end: number): number {
  let value = 0;
  let scale = 1;
  for (let read = 1; ; read++) {
    if (at >= end) throw unsure;
    const b = input[at++] as number;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      // A zero last byte after the first: longer than the value needs.
      if (b === 0 && read > 1) throw unsure;
      break;
    }
    scale *= 0x80;
    if (read === 8) throw unsure; // past 2^56: protobuf-es's bigint would not be a safe number
  }
  if (value > Number.MAX_SAFE_INTEGER) throw unsure;
  return value;
}

/** A uint64 varint as a decimal string (the id), as protobuf-es's uInt64ToString writes it. */
function readId(end: number): string {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  for (let read = 1; ; read++) {
    if (at >= end) throw unsure;
    const b = input[at++] as number;
    const bits = b & 0x7f;
    if (shift < 28) lo |= bits << shift;
    else if (shift === 28) {
      lo |= (bits & 0x0f) << 28;
      hi = bits >> 4;
    } else hi |= bits << (shift - 32);
    if ((b & 0x80) === 0) {
      if (b === 0 && read > 1) throw unsure;
      // The tenth byte holds only the top bit: anything more is beyond 64 bits.
      if (read === 10 && b > 1) throw unsure;
      break;
    }
    if (read === 10) throw unsure;
    shift += 7;
  }
  return uint64ToString(lo >>> 0, hi >>> 0);
}

/** protobuf-es's uInt64ToString: base 2^32 to base 1e7, then digits. */
function uint64ToString(lo: number, hi: number): string {
  if (hi <= 0x1fffff) return String(TWO_32 * hi + lo);
  const low = lo & 0xffffff;
  const mid = ((lo >>> 24) | (hi << 8)) & 0xffffff;
  const high = (hi >> 16) & 0xffff;
  let digitA = low + mid * 6777216 + high * 6710656;
  let digitB = mid + high * 8147497;
  let digitC = high * 2;
  const base = 10000000;
  if (digitA >= base) {
    digitB += Math.floor(digitA / base);
    digitA %= base;
  }
  if (digitB >= base) {
    digitC += Math.floor(digitB / base);
    digitB %= base;
  }
  return String(digitC) + padded7(digitB) + padded7(digitA);
}

function padded7(digits: number): string {
  const text = String(digits);
  return '0000000'.slice(text.length) + text;
}

function readString(end: number): string {
  const length = readVarint(end);
  const start = at;
  const stop = start + length;
  if (stop > end) throw unsure;
  const text = textOf(input, start, stop);
  if (text === null) throw unsure;
  at = stop;
  return text;
}

/** The row in `value` from `start`, or null when protobuf-es should read it. */
export function decodeByHand(value: Uint8Array, start: number, version: number): UserRow | null {
  input = value;
  at = start;
  const end = value.length;
  const row: UserRow = {
    id: '0',
    username: '',
    nickname: '',
    passwordHash: '',
    picture: '',
    sessionsValidAfterMs: 0,
    createdAtMs: 0,
    updatedAtMs: 0,
    totpSecret: '',
    version,
  };
  try {
    let seen = 0;
    while (at < end) {
      const key = input[at++] as number;
      const bit = 1 << (key >>> 3);
      // Multi-byte keys (field 16 and over) are unknown fields too.
      if (seen & bit || key & 0x80) throw unsure;
      seen |= bit;
      switch (key) {
        case tag(1, VARINT):
          row.id = readId(end);
          break;
        case tag(2, LEN):
          row.username = readString(end);
          break;
        case tag(3, LEN):
          row.nickname = readString(end);
          break;
        case tag(4, LEN):
          row.passwordHash = readString(end);
          break;
        case tag(5, LEN):
          row.picture = readString(end);
          break;
        case tag(6, VARINT):
          row.sessionsValidAfterMs = readVarint(end);
          break;
        case tag(7, VARINT):
          row.createdAtMs = readVarint(end);
          break;
        case tag(8, VARINT):
          row.updatedAtMs = readVarint(end);
          break;
        case tag(9, LEN):
          row.totpSecret = readString(end);
          break;
        default:
          throw unsure;
      }
    }
    return row;
  } catch (error) {
    if (error === unsure) return null;
    throw error;
  } finally {
    input = EMPTY; // not held past the call
  }
}

const EMPTY = new Uint8Array(0);
