/**
 * A hand-written encoder and decoder for the hot envelopes: a Request whose
 * call is a login, a profile read (the session check), a nickname update or
 * a ping, and a Response that answers one of these or carries only a status
 * (an error).
 * Everything else goes through protobuf-es, which stays the reference:
 * - encoding is byte-identical to protobuf-es's (fields in number order,
 *   implicit-presence fields only when not zero, strings as TextEncoder
 *   writes them, lone surrogates as U+FFFD); a value this code does not
 *   write the way protobuf-es would (a uint32 out of range, a negative
 *   int64, unknown fields kept on the message) sends the message to
 *   protobuf-es instead;
 * - decoding gives the object protobuf-es's fromBinary gives (same keys,
 *   same order, bigints for int64, decimal strings for the user id), or
 *   FALLBACK for any frame it is not sure of: an unknown field, a field of
 *   the wrong wire type, a field or oneof case seen twice (protobuf-es would
 *   merge), a varint longer than the value needs, a length past the end,
 *   text that is not ASCII and not strict UTF-8. The frame then goes to the
 *   checked protobuf-es path (wire-types.ts, then fromBinary), which refuses
 *   what it refuses today: this decoder never refuses, so it cannot refuse
 *   more, and what it accepts protobuf-es accepts the same way
 *   (test/wire/codec.test.ts holds both equal over random messages).
 *
 * Frames are written into a shared arena, carved front to back and never
 * reused: a frame stays valid for as long as something holds it, the outbox
 * can send consecutive frames of one arena as one view (no concatenation),
 * and a turn's frames cost one allocation per ARENA_BYTES, not one each.
 */
import { type MessageInitShape, protoInt64 } from '@bufbuild/protobuf';
import { sizeDelimitedEncode } from '@bufbuild/protobuf/wire';
import type {
  GetProfileRequest,
  GetProfileRequestSchema,
  GetProfileResponse,
  GetProfileResponseSchema,
  IssuedSession,
  IssuedSessionSchema,
  LoginRequest,
  LoginRequestSchema,
  LoginResponse,
  LoginResponseSchema,
  PingRequest,
  PingResponse,
  PingResponseSchema,
  Request,
  Response,
  SecondStep,
  SecondStepSchema,
  SessionAuth,
  SessionAuthSchema,
  UpdateNicknameRequest,
  UpdateNicknameRequestSchema,
  UpdateNicknameResponse,
  UpdateNicknameResponseSchema,
  User,
  UserSchema,
} from '../gen/usermgr/v1/rpc_pb.ts';
import { RequestSchema, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { textOf } from './text.ts';

// ---------------------------------------------------------------- encoding

const ARENA_BYTES = 64 * 1024;
/** Strings longer than this make the message go to protobuf-es: a hot envelope has none. */
const MAX_HOT_CHARS = 4096;

let arena = new Uint8Array(ARENA_BYTES);
let used = 0;
/** Where the message being written goes next. */
let buf = arena;
let pos = 0;
/** Set by a writer that meets a value it does not write as protobuf-es would. */
let refused = false;

/** Room for `bytes` more in the arena, the frame's header included; a fresh arena if not. */
function reserve(bytes: number): void {
  if (arena.length - used < bytes) {
    arena = new Uint8Array(Math.max(ARENA_BYTES, bytes));
    used = 0;
  }
  buf = arena;
}

function varint32(value: number): void {
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
}

function varint64(lo: number, hi: number): void {
  // As protobuf-es's varint64write: 28 bits of lo, then the 4 left and 3 of hi, then hi.
  for (let i = 0; i < 28; i += 7) {
    const shift = lo >>> i;
    const more = !(shift >>> 7 === 0 && hi === 0);
    buf[pos++] = (more ? shift | 0x80 : shift) & 0xff;
    if (!more) return;
  }
  const split = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
  const more = hi >> 3 !== 0;
  buf[pos++] = (more ? split | 0x80 : split) & 0xff;
  if (!more) return;
  for (let i = 3; i < 31; i += 7) {
    const shift = hi >>> i;
    const next = shift >>> 7 !== 0;
    buf[pos++] = (next ? shift | 0x80 : shift) & 0xff;
    if (!next) return;
  }
  buf[pos++] = (hi >>> 31) & 0x01;
}

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

function uint32Field(tag: number, value: number): void {
  if (value === 0) return;
  if (value >>> 0 !== value) {
    refused = true;
    return;
  }
  buf[pos++] = tag;
  varint32(value);
}

/** An enum (int32): negative values take ten bytes, which protobuf-es writes. */
function enumField(tag: number, value: number): void {
  if (value === 0) return;
  if (value >>> 0 !== value || value > 0x7fffffff) {
    refused = true;
    return;
  }
  buf[pos++] = tag;
  varint32(value);
}

function boolField(tag: number, value: boolean): void {
  if (value === false) return;
  if (value !== true) {
    refused = true;
    return;
  }
  buf[pos++] = tag;
  buf[pos++] = 1;
}

/** An int64 held as a bigint (or a number), non-negative and within 2^53. */
function int64Field(tag: number, value: bigint | number): void {
  // Loose, as protobuf-es's zero check: 0n and 0.
  // biome-ignore lint/suspicious/noDoubleEquals: matches 0n and 0 alike
  if (value == 0) return;
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n < 0 || (typeof value === 'bigint' && BigInt(n) !== value)) {
    refused = true;
    return;
  }
  buf[pos++] = tag;
  varint64(n % 0x100000000, Math.floor(n / 0x100000000));
}

/** A uint64 held as a decimal string (jstype = JS_STRING). */
function uint64StringField(tag: number, value: string): void {
  if (value === '' || value === '0') return;
  if (!/^[0-9]{1,20}$/.test(value)) {
    refused = true;
    return;
  }
  let lo: number;
  let hi: number;
  if (value.length <= 15) {
    const n = Number(value);
    lo = n % 0x100000000;
    hi = Math.floor(n / 0x100000000);
  } else {
    const big = BigInt(value);
    if (big >> 64n !== 0n) {
      refused = true;
      return;
    }
    lo = Number(big & 0xffffffffn);
    hi = Number(big >> 32n);
  }
  if (lo === 0 && hi === 0) return; // "00": zero, as protobuf-es's loose check sees it
  buf[pos++] = tag;
  varint64(lo, hi);
}

function stringField(tag: number, value: string): void {
  if (value === '') return;
  stringValue(tag, value);
}

/** A string with explicit presence: written when set, even empty. */
function optionalStringField(tag: number, value: string | undefined): void {
  if (value === undefined) return;
  stringValue(tag, value);
}

function stringValue(tag: number, value: string): void {
  const length = value.length;
  if (typeof value !== 'string' || length > MAX_HOT_CHARS) {
    refused = true;
    return;
  }
  buf[pos++] = tag;
  // Room for the longest length header this text can need; moved back if shorter.
  const header = varintSize(length * 3);
  const start = pos + header;
  let p = start;
  for (let i = 0; i < length; i++) {
    let code = value.charCodeAt(i);
    if (code < 0x80) {
      buf[p++] = code;
    } else if (code < 0x800) {
      buf[p++] = 0xc0 | (code >> 6);
      buf[p++] = 0x80 | (code & 0x3f);
    } else {
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = i + 1 < length ? value.charCodeAt(i + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (code >> 18);
          buf[p++] = 0x80 | ((code >> 12) & 0x3f);
          buf[p++] = 0x80 | ((code >> 6) & 0x3f);
          buf[p++] = 0x80 | (code & 0x3f);
          continue;
        }
        code = 0xfffd; // A lone surrogate, as TextEncoder writes it.
      }
      buf[p++] = 0xe0 | (code >> 12);
      buf[p++] = 0x80 | ((code >> 6) & 0x3f);
      buf[p++] = 0x80 | (code & 0x3f);
    }
  }
  finishLength(pos, header, p);
}

/**
 * The content written from `at + reserved` to `end` gets its length varint
 * at `at`; when it needs fewer than `reserved` bytes, the content moves back.
 */
function finishLength(at: number, reserved: number, end: number): void {
  const length = end - at - reserved;
  const size = varintSize(length);
  if (size !== reserved) buf.copyWithin(at + size, at + reserved, end);
  pos = at;
  varint32(length);
  pos = end - reserved + size;
}

/** Writes a nested message field: tag, then `write` between a length reserved and fixed. */
function messageField<T>(tag: number, value: T, write: (value: T) => void): void {
  buf[pos++] = tag;
  const at = pos;
  // Hot nested messages are small: one byte of length is the usual case.
  pos += 1;
  write(value);
  finishLength(at, 1, pos);
}

function hasUnknown(message: { $unknown?: unknown[] }): boolean {
  return message.$unknown !== undefined && message.$unknown.length > 0;
}

/** Upper bound of a message's bytes from its strings: 3 bytes a UTF-16 unit, plus `fixed`. */
function textBound(fixed: number, ...texts: (string | undefined)[]): number {
  let n = fixed;
  for (const text of texts) n += text === undefined ? 0 : text.length * 3 + 6;
  return n;
}

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const VARINT = 0;
const LEN = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;
/** Fields 16 and over take two bytes of tag. */
function bigTag(field: number, wireType: number): void {
  varint32(tag(field, wireType));
}

function writeLoginRequest(m: LoginRequest): void {
  stringField(tag(1, LEN), m.username);
  stringField(tag(2, LEN), m.password);
  stringField(tag(3, LEN), m.currentToken);
  stringField(tag(4, LEN), m.deviceCookie);
  stringField(tag(5, LEN), m.otp);
  boolField(tag(6, VARINT), m.wantTicket);
  boolField(tag(10, VARINT), m.remember);
  stringField(tag(11, LEN), m.userAgent);
}

function writeSessionAuth(m: SessionAuth): void {
  stringField(tag(1, LEN), m.token);
  optionalStringField(tag(2, LEN), m.csrfToken);
}

function writeGetProfileRequest(m: GetProfileRequest): void {
  if (m.auth !== undefined) {
    if (hasUnknown(m.auth)) refused = true;
    messageField(tag(1, LEN), m.auth, writeSessionAuth);
  }
  boolField(tag(10, VARINT), m.renew);
}

function writeUpdateNicknameRequest(m: UpdateNicknameRequest): void {
  if (m.auth !== undefined) {
    if (hasUnknown(m.auth)) refused = true;
    messageField(tag(1, LEN), m.auth, writeSessionAuth);
  }
  stringField(tag(2, LEN), m.nickname);
}

function writeSecondStep(m: SecondStep): void {
  stringField(tag(1, LEN), m.ticket);
  stringField(tag(2, LEN), m.csrfToken);
  int64Field(tag(3, VARINT), m.expiresAtMs);
}

function writeLoginResponse(m: LoginResponse): void {
  stringField(tag(1, LEN), m.token);
  int64Field(tag(2, VARINT), m.expiresAtMs);
  stringField(tag(5, LEN), m.deviceCookie);
  int64Field(tag(6, VARINT), m.deviceCookieExpiresAtMs);
  if (m.secondStep !== undefined) {
    if (hasUnknown(m.secondStep)) refused = true;
    messageField(tag(7, LEN), m.secondStep, writeSecondStep);
  }
  boolField(tag(10, VARINT), m.persistent);
}

function writeUser(m: User): void {
  uint64StringField(tag(1, VARINT), m.id);
  stringField(tag(2, LEN), m.username);
  stringField(tag(3, LEN), m.nickname);
  stringField(tag(4, LEN), m.picture);
  int64Field(tag(5, VARINT), m.createdAtMs);
  int64Field(tag(6, VARINT), m.updatedAtMs);
}

function writeUpdateNicknameResponse(m: UpdateNicknameResponse): void {
  if (m.user !== undefined) {
    if (hasUnknown(m.user)) refused = true;
    messageField(tag(1, LEN), m.user, writeUser);
  }
}

function writeIssuedSession(m: IssuedSession): void {
  stringField(tag(1, LEN), m.token);
  int64Field(tag(2, VARINT), m.expiresAtMs);
  boolField(tag(3, VARINT), m.persistent);
}

function writeGetProfileResponse(m: GetProfileResponse): void {
  if (m.user !== undefined) {
    if (hasUnknown(m.user)) refused = true;
    messageField(tag(1, LEN), m.user, writeUser);
  }
  stringField(tag(2, LEN), m.csrfToken);
  if (m.renewed !== undefined) {
    if (hasUnknown(m.renewed)) refused = true;
    messageField(tag(10, LEN), m.renewed, writeIssuedSession);
  }
}

function writePingResponse(m: PingResponse): void {
  stringField(tag(1, LEN), m.serverId);
}

function requestBound(m: Request): number {
  const call = m.call;
  let bound = textBound(64, m.requestId, m.clientIp);
  if (call.case === 'login') {
    const v = call.value;
    bound += textBound(32, v.username, v.password, v.currentToken, v.deviceCookie, v.otp);
    bound += textBound(0, v.userAgent);
  } else if (call.case === 'getProfile') {
    bound += textBound(32, call.value.auth?.token, call.value.auth?.csrfToken);
  } else if (call.case === 'updateNickname') {
    const v = call.value;
    bound += textBound(32, v.auth?.token, v.auth?.csrfToken, v.nickname);
  }
  return bound;
}

function responseBound(m: Response): number {
  const result = m.result;
  let bound = textBound(64, m.message, m.field);
  if (result.case === 'login') {
    const v = result.value;
    bound += textBound(96, v.token, v.deviceCookie, v.secondStep?.ticket, v.secondStep?.csrfToken);
  } else if (result.case === 'getProfile') {
    const v = result.value;
    bound += textBound(128, v.csrfToken, v.renewed?.token);
    if (v.user !== undefined)
      bound += textBound(0, v.user.id, v.user.username, v.user.nickname, v.user.picture);
  } else if (result.case === 'updateNickname') {
    const user = result.value.user;
    if (user !== undefined)
      bound += textBound(64, user.id, user.username, user.nickname, user.picture);
  } else if (result.case === 'ping') {
    bound += textBound(8, result.value.serverId);
  }
  return bound;
}

/**
 * Starts a frame in the arena: `bound` bytes of room, the body written after
 * 5 bytes kept for the length header. Returns where the body starts.
 */
function beginFrame(bound: number): number {
  reserve(bound + 5);
  refused = false;
  pos = used + 5;
  return pos;
}

/** The frame (header + body) as a view of the arena, or null when a writer refused. */
function endFrame(bodyStart: number): Uint8Array | null {
  if (refused) return null;
  const length = pos - bodyStart;
  const size = varintSize(length);
  const start = bodyStart - size;
  const end = pos;
  pos = start;
  varint32(length);
  used = end;
  return arena.subarray(start, end);
}

/** A Request as one size-delimited frame, byte-identical to protobuf-es's. */
export function encodeRequestFrame(m: Request): Uint8Array {
  const call = m.call;
  if (
    (call.case === 'login' ||
      call.case === 'getProfile' ||
      call.case === 'updateNickname' ||
      call.case === 'ping') &&
    m.cancel === undefined &&
    m.hello === undefined &&
    !hasUnknown(m) &&
    !hasUnknown(call.value)
  ) {
    const start = beginFrame(requestBound(m));
    uint32Field(tag(1, VARINT), m.id);
    uint32Field(tag(2, VARINT), m.deadlineMs);
    stringField(tag(3, LEN), m.requestId);
    stringField(tag(4, LEN), m.clientIp);
    if (call.case === 'login') {
      bigTag(18, LEN);
      const at = pos;
      pos += 1;
      writeLoginRequest(call.value);
      finishLength(at, 1, pos);
    } else if (call.case === 'getProfile') {
      bigTag(19, LEN);
      const at = pos;
      pos += 1;
      writeGetProfileRequest(call.value);
      finishLength(at, 1, pos);
    } else if (call.case === 'updateNickname') {
      bigTag(20, LEN);
      const at = pos;
      pos += 1;
      writeUpdateNicknameRequest(call.value);
      finishLength(at, 1, pos);
    } else {
      bigTag(16, LEN);
      buf[pos++] = 0; // PingRequest has no fields.
    }
    const frame = endFrame(start);
    if (frame !== null) return frame;
  }
  return sizeDelimitedEncode(RequestSchema, m);
}

/** The field number of each hot result (and call: the same numbers). */
const RESULT_FIELDS = { ping: 16, login: 18, getProfile: 19, updateNickname: 20 } as const;

/** A Response as one size-delimited frame, byte-identical to protobuf-es's. */
export function encodeResponseFrame(m: Response): Uint8Array {
  const result = m.result;
  if (
    (result.case === undefined ||
      result.case === 'login' ||
      result.case === 'getProfile' ||
      result.case === 'updateNickname' ||
      result.case === 'ping') &&
    m.challenge === undefined &&
    m.welcome === undefined &&
    m.moreFields.length === 0 &&
    !hasUnknown(m) &&
    (result.case === undefined || !hasUnknown(result.value))
  ) {
    const start = beginFrame(responseBound(m));
    uint32Field(tag(1, VARINT), m.id);
    enumField(tag(2, VARINT), m.status);
    stringField(tag(3, LEN), m.message);
    stringField(tag(4, LEN), m.field);
    uint32Field(tag(5, VARINT), m.retryAfterS);
    if (result.case !== undefined) {
      const field = RESULT_FIELDS[result.case];
      bigTag(field, LEN);
      const at = pos;
      pos += 1;
      if (result.case === 'login') writeLoginResponse(result.value);
      else if (result.case === 'getProfile') writeGetProfileResponse(result.value);
      else if (result.case === 'updateNickname') writeUpdateNicknameResponse(result.value);
      else writePingResponse(result.value);
      finishLength(at, 1, pos);
    }
    const frame = endFrame(start);
    if (frame !== null) return frame;
  }
  return sizeDelimitedEncode(ResponseSchema, m);
}

// ---------------------------------------------------------------- decoding

/** Returned by the decoders for a frame they leave to protobuf-es. */
export const FALLBACK = Symbol('fallback');
type Fallback = typeof FALLBACK;

/** Thrown inside a decode, caught at its top: one frame's worth of unwinding, on rare frames only. */
class Unsure {}
const unsure = new Unsure();

let input: Uint8Array = new Uint8Array(0);
let at = 0;

/** A uint32 varint as protobuf-es's varint32read reads it (an int32 is this `| 0`). */
function readVarint32(end: number): number {
  let b = input[at++] as number;
  if ((b & 0x80) === 0) {
    if (at > end) throw unsure;
    return b;
  }
  let result = b & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    b = input[at++] as number;
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      if (at > end) throw unsure;
      return result;
    }
  }
  // Only the last 4 bits of the fifth byte count; up to five more bytes are skipped.
  b = input[at++] as number;
  result |= (b & 0x0f) << 28;
  for (let read = 5; (b & 0x80) !== 0 && read < 10; read++) b = input[at++] as number;
  if (at > end || (b & 0x80) !== 0) throw unsure;
  return result >>> 0;
}

let lo64 = 0;
let hi64 = 0;

/** A 64-bit varint as protobuf-es's varint64read reads it, into lo64 and hi64. */
function readVarint64(end: number): void {
  let lo = 0;
  let hi = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = input[at++] as number;
    lo |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      if (at > end) throw unsure;
      lo64 = lo;
      hi64 = hi;
      return;
    }
  }
  const middle = input[at++] as number;
  lo |= (middle & 0x0f) << 28;
  hi = (middle & 0x70) >> 4;
  if ((middle & 0x80) === 0) {
    if (at > end) throw unsure;
    lo64 = lo;
    hi64 = hi;
    return;
  }
  for (let shift = 3; shift <= 31; shift += 7) {
    const b = input[at++] as number;
    hi |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      if (at > end) throw unsure;
      lo64 = lo;
      hi64 = hi;
      return;
    }
  }
  throw unsure;
}

function readInt64(end: number): bigint {
  readVarint64(end);
  if (hi64 === 0) return BigInt(lo64 >>> 0);
  return protoInt64.dec(lo64, hi64) as bigint;
}

function readUint64String(end: number): string {
  readVarint64(end);
  if (hi64 === 0) return String(lo64 >>> 0);
  return String(protoInt64.uDec(lo64, hi64));
}

function readBool(end: number): boolean {
  readVarint64(end);
  return lo64 !== 0 || hi64 !== 0;
}

/** The end of a length-delimited value starting at `at`. */
function readLength(end: number): number {
  const length = readVarint32(end);
  const stop = at + length;
  if (stop > end) throw unsure;
  return stop;
}

function readString(end: number): string {
  const stop = readLength(end);
  const text = textOf(input, at, stop);
  if (text === null) throw unsure; // protobuf-es refuses it: let it say so.
  at = stop;
  return text;
}

/**
 * Reads the fields of one message up to `end`: `field(number, wireType, end)`
 * returns false for a field it does not know. Seen fields are tracked in a
 * bit set (numbers under 32) and a field seen twice is unsure.
 */
function readFields(
  end: number,
  field: (number: number, wireType: number, end: number) => boolean,
) {
  let seen = 0;
  while (at < end) {
    const key = readVarint32(end);
    const number = key >>> 3;
    const wireType = key & 7;
    if (number === 0 || number >= 32) throw unsure;
    const bit = 1 << number;
    if (seen & bit) throw unsure;
    seen |= bit;
    if (!field(number, wireType, end)) throw unsure;
  }
  if (at !== end) throw unsure;
}

function expect(wireType: number, wanted: number): void {
  if (wireType !== wanted) throw unsure;
}

function readLoginRequest(end: number): LoginRequest {
  const m: LoginRequest = {
    $typeName: 'usermgr.v1.LoginRequest',
    username: '',
    password: '',
    currentToken: '',
    deviceCookie: '',
    otp: '',
    wantTicket: false,
    remember: false,
    userAgent: '',
  };
  readFields(end, (number, wireType, stop) => {
    switch (number) {
      case 1:
        expect(wireType, LEN);
        m.username = readString(stop);
        return true;
      case 2:
        expect(wireType, LEN);
        m.password = readString(stop);
        return true;
      case 3:
        expect(wireType, LEN);
        m.currentToken = readString(stop);
        return true;
      case 4:
        expect(wireType, LEN);
        m.deviceCookie = readString(stop);
        return true;
      case 5:
        expect(wireType, LEN);
        m.otp = readString(stop);
        return true;
      case 6:
        expect(wireType, VARINT);
        m.wantTicket = readBool(stop);
        return true;
      case 10:
        expect(wireType, VARINT);
        m.remember = readBool(stop);
        return true;
      case 11:
        expect(wireType, LEN);
        m.userAgent = readString(stop);
        return true;
      default:
        return false;
    }
  });
  return m;
}

function readSessionAuth(end: number): SessionAuth {
  const m: SessionAuth = { $typeName: 'usermgr.v1.SessionAuth', token: '' };
  readFields(end, (number, wireType, stop) => {
    expect(wireType, LEN);
    if (number === 1) m.token = readString(stop);
    else if (number === 2) m.csrfToken = readString(stop);
    else return false;
    return true;
  });
  return m;
}

function readGetProfileRequest(end: number): GetProfileRequest {
  const m: GetProfileRequest = { $typeName: 'usermgr.v1.GetProfileRequest', renew: false };
  readFields(end, (number, wireType, stop) => {
    if (number === 1) {
      expect(wireType, LEN);
      m.auth = readSessionAuth(readLength(stop));
    } else if (number === 10) {
      expect(wireType, VARINT);
      m.renew = readBool(stop);
    } else {
      return false;
    }
    return true;
  });
  return m;
}

function readUpdateNicknameRequest(end: number): UpdateNicknameRequest {
  const m: UpdateNicknameRequest = { $typeName: 'usermgr.v1.UpdateNicknameRequest', nickname: '' };
  readFields(end, (number, wireType, stop) => {
    expect(wireType, LEN);
    if (number === 1) m.auth = readSessionAuth(readLength(stop));
    else if (number === 2) m.nickname = readString(stop);
    else return false;
    return true;
  });
  return m;
}

function readSecondStep(end: number): SecondStep {
  const m: SecondStep = {
    $typeName: 'usermgr.v1.SecondStep',
    ticket: '',
    csrfToken: '',
    expiresAtMs: 0n,
  };
  readFields(end, (number, wireType, stop) => {
    if (number === 1 || number === 2) {
      expect(wireType, LEN);
      if (number === 1) m.ticket = readString(stop);
      else m.csrfToken = readString(stop);
    } else if (number === 3) {
      expect(wireType, VARINT);
      m.expiresAtMs = readInt64(stop);
    } else {
      return false;
    }
    return true;
  });
  return m;
}

function readLoginResponse(end: number): LoginResponse {
  const m: LoginResponse = {
    $typeName: 'usermgr.v1.LoginResponse',
    token: '',
    expiresAtMs: 0n,
    deviceCookie: '',
    deviceCookieExpiresAtMs: 0n,
    persistent: false,
  };
  readFields(end, (number, wireType, stop) => {
    switch (number) {
      case 1:
        expect(wireType, LEN);
        m.token = readString(stop);
        return true;
      case 2:
        expect(wireType, VARINT);
        m.expiresAtMs = readInt64(stop);
        return true;
      case 5:
        expect(wireType, LEN);
        m.deviceCookie = readString(stop);
        return true;
      case 6:
        expect(wireType, VARINT);
        m.deviceCookieExpiresAtMs = readInt64(stop);
        return true;
      case 7:
        expect(wireType, LEN);
        m.secondStep = readSecondStep(readLength(stop));
        return true;
      case 10:
        expect(wireType, VARINT);
        m.persistent = readBool(stop);
        return true;
      default:
        return false;
    }
  });
  return m;
}

function readUser(end: number): User {
  const m: User = {
    $typeName: 'usermgr.v1.User',
    id: '0',
    username: '',
    nickname: '',
    picture: '',
    createdAtMs: 0n,
    updatedAtMs: 0n,
  };
  readFields(end, (number, wireType, stop) => {
    switch (number) {
      case 1:
        expect(wireType, VARINT);
        m.id = readUint64String(stop);
        return true;
      case 2:
        expect(wireType, LEN);
        m.username = readString(stop);
        return true;
      case 3:
        expect(wireType, LEN);
        m.nickname = readString(stop);
        return true;
      case 4:
        expect(wireType, LEN);
        m.picture = readString(stop);
        return true;
      case 5:
        expect(wireType, VARINT);
        m.createdAtMs = readInt64(stop);
        return true;
      case 6:
        expect(wireType, VARINT);
        m.updatedAtMs = readInt64(stop);
        return true;
      default:
        return false;
    }
  });
  return m;
}

function readIssuedSession(end: number): IssuedSession {
  const m: IssuedSession = {
    $typeName: 'usermgr.v1.IssuedSession',
    token: '',
    expiresAtMs: 0n,
    persistent: false,
  };
  readFields(end, (number, wireType, stop) => {
    if (number === 1) {
      expect(wireType, LEN);
      m.token = readString(stop);
    } else if (number === 2) {
      expect(wireType, VARINT);
      m.expiresAtMs = readInt64(stop);
    } else if (number === 3) {
      expect(wireType, VARINT);
      m.persistent = readBool(stop);
    } else {
      return false;
    }
    return true;
  });
  return m;
}

function readGetProfileResponse(end: number): GetProfileResponse {
  const m: GetProfileResponse = { $typeName: 'usermgr.v1.GetProfileResponse', csrfToken: '' };
  readFields(end, (number, wireType, stop) => {
    expect(wireType, LEN);
    if (number === 1) m.user = readUser(readLength(stop));
    else if (number === 2) m.csrfToken = readString(stop);
    else if (number === 10) m.renewed = readIssuedSession(readLength(stop));
    else return false;
    return true;
  });
  return m;
}

function readUpdateNicknameResponse(end: number): UpdateNicknameResponse {
  const m: UpdateNicknameResponse = { $typeName: 'usermgr.v1.UpdateNicknameResponse' };
  readFields(end, (number, wireType, stop) => {
    expect(wireType, LEN);
    if (number !== 1) return false;
    m.user = readUser(readLength(stop));
    return true;
  });
  return m;
}

function readPingResponse(end: number): PingResponse {
  const m: PingResponse = { $typeName: 'usermgr.v1.PingResponse', serverId: '' };
  readFields(end, (number, wireType, stop) => {
    expect(wireType, LEN);
    if (number !== 1) return false;
    m.serverId = readString(stop);
    return true;
  });
  return m;
}

/** Field numbers of the hot oneof cases are 16 and 18 to 20: two bytes of tag, read here. */
function readTopLevel(
  bytes: Uint8Array,
  field: (number: number, wireType: number, end: number) => boolean,
): boolean {
  input = bytes;
  at = 0;
  const end = bytes.length;
  let seen = 0;
  try {
    while (at < end) {
      const key = readVarint32(end);
      const number = key >>> 3;
      const wireType = key & 7;
      if (number === 0 || number >= 32) return false;
      const bit = 1 << number;
      if (seen & bit) return false;
      // One oneof case only: a second one replaces the first in protobuf-es.
      if (number >= 16 && seen & 0xffff0000) return false;
      seen |= bit;
      if (!field(number, wireType, end)) return false;
    }
    return at === end;
  } catch {
    // Unsure, or anything unforeseen: the checked path decides.
    return false;
  } finally {
    input = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);

/** A Request as fromBinary would read it, or FALLBACK. */
export function decodeRequest(bytes: Uint8Array): Request | Fallback {
  const m: Request = {
    $typeName: 'usermgr.v1.Request',
    id: 0,
    deadlineMs: 0,
    requestId: '',
    clientIp: '',
    call: { case: undefined },
  };
  const ok = readTopLevel(bytes, (number, wireType, end) => {
    switch (number) {
      case 1:
        expect(wireType, VARINT);
        m.id = readVarint32(end);
        return true;
      case 2:
        expect(wireType, VARINT);
        m.deadlineMs = readVarint32(end);
        return true;
      case 3:
        expect(wireType, LEN);
        m.requestId = readString(end);
        return true;
      case 4:
        expect(wireType, LEN);
        m.clientIp = readString(end);
        return true;
      case 16: {
        expect(wireType, LEN);
        const stop = readLength(end);
        if (stop !== at) return false; // A Ping with fields: not one this side knows.
        m.call = { case: 'ping', value: { $typeName: 'usermgr.v1.PingRequest' } };
        return true;
      }
      case 18:
        expect(wireType, LEN);
        m.call = { case: 'login', value: readLoginRequest(readLength(end)) };
        return true;
      case 19:
        expect(wireType, LEN);
        m.call = { case: 'getProfile', value: readGetProfileRequest(readLength(end)) };
        return true;
      case 20:
        expect(wireType, LEN);
        m.call = { case: 'updateNickname', value: readUpdateNicknameRequest(readLength(end)) };
        return true;
      default:
        return false;
    }
  });
  return ok ? m : FALLBACK;
}

/** A Response as fromBinary would read it, or FALLBACK. */
export function decodeResponse(bytes: Uint8Array): Response | Fallback {
  const m: Response = {
    $typeName: 'usermgr.v1.Response',
    id: 0,
    status: 0,
    message: '',
    field: '',
    retryAfterS: 0,
    moreFields: [],
    result: { case: undefined },
  };
  const ok = readTopLevel(bytes, (number, wireType, end) => {
    switch (number) {
      case 1:
        expect(wireType, VARINT);
        m.id = readVarint32(end);
        return true;
      case 2:
        expect(wireType, VARINT);
        m.status = readVarint32(end) | 0;
        return true;
      case 3:
        expect(wireType, LEN);
        m.message = readString(end);
        return true;
      case 4:
        expect(wireType, LEN);
        m.field = readString(end);
        return true;
      case 5:
        expect(wireType, VARINT);
        m.retryAfterS = readVarint32(end);
        return true;
      case 16:
        expect(wireType, LEN);
        m.result = { case: 'ping', value: readPingResponse(readLength(end)) };
        return true;
      case 18:
        expect(wireType, LEN);
        m.result = { case: 'login', value: readLoginResponse(readLength(end)) };
        return true;
      case 19:
        expect(wireType, LEN);
        m.result = { case: 'getProfile', value: readGetProfileResponse(readLength(end)) };
        return true;
      case 20:
        expect(wireType, LEN);
        m.result = {
          case: 'updateNickname',
          value: readUpdateNicknameResponse(readLength(end)),
        };
        return true;
      default:
        return false;
    }
  });
  return ok ? m : FALLBACK;
}

// ---------------------------------------------------------------- building

/*
 * The hot messages built from their init shapes as protobuf-es's create()
 * builds them (a field left out or null takes its zero value; a message
 * field is absent unless given; a message already built is taken as is),
 * without its generic walk over the descriptor: the client builds a
 * Request and the TCP server a Response for every call.
 */

type LoginRequestInit = MessageInitShape<typeof LoginRequestSchema>;
type GetProfileRequestInit = MessageInitShape<typeof GetProfileRequestSchema>;
type LoginResponseInit = MessageInitShape<typeof LoginResponseSchema>;
type GetProfileResponseInit = MessageInitShape<typeof GetProfileResponseSchema>;
type UpdateNicknameRequestInit = MessageInitShape<typeof UpdateNicknameRequestSchema>;
type UpdateNicknameResponseInit = MessageInitShape<typeof UpdateNicknameResponseSchema>;
type SessionAuthInit = MessageInitShape<typeof SessionAuthSchema>;
type SecondStepInit = MessageInitShape<typeof SecondStepSchema>;
type UserInit = MessageInitShape<typeof UserSchema>;
type IssuedSessionInit = MessageInitShape<typeof IssuedSessionSchema>;

/** Built already: `create` would return it as it is. */
function built(init: object, typeName: string): boolean {
  return (init as { $typeName?: unknown }).$typeName === typeName;
}

function newLoginRequest(i: LoginRequestInit): LoginRequest {
  if (built(i, 'usermgr.v1.LoginRequest')) return i as LoginRequest;
  return {
    $typeName: 'usermgr.v1.LoginRequest',
    username: i.username ?? '',
    password: i.password ?? '',
    currentToken: i.currentToken ?? '',
    deviceCookie: i.deviceCookie ?? '',
    otp: i.otp ?? '',
    wantTicket: i.wantTicket ?? false,
    remember: i.remember ?? false,
    userAgent: i.userAgent ?? '',
  };
}

function newSessionAuth(i: SessionAuthInit): SessionAuth {
  if (built(i, 'usermgr.v1.SessionAuth')) return i as SessionAuth;
  const m: SessionAuth = { $typeName: 'usermgr.v1.SessionAuth', token: i.token ?? '' };
  if (i.csrfToken != null) m.csrfToken = i.csrfToken;
  return m;
}

function newGetProfileRequest(i: GetProfileRequestInit): GetProfileRequest {
  if (built(i, 'usermgr.v1.GetProfileRequest')) return i as GetProfileRequest;
  const m = { $typeName: 'usermgr.v1.GetProfileRequest' } as GetProfileRequest;
  if (i.auth != null) m.auth = newSessionAuth(i.auth);
  m.renew = i.renew ?? false;
  return m;
}

function newUpdateNicknameRequest(i: UpdateNicknameRequestInit): UpdateNicknameRequest {
  if (built(i, 'usermgr.v1.UpdateNicknameRequest')) return i as UpdateNicknameRequest;
  const m = { $typeName: 'usermgr.v1.UpdateNicknameRequest' } as UpdateNicknameRequest;
  if (i.auth != null) m.auth = newSessionAuth(i.auth);
  m.nickname = i.nickname ?? '';
  return m;
}

/**
 * The Request of a login, a profile read, a nickname update or a ping, as
 * `create(RequestSchema, { requestId, clientIp, call: { case, value } })`
 * makes it; null for any other call.
 */
export function hotRequest(
  name: string,
  value: object,
  requestId: string,
  clientIp: string,
): Request | null {
  let call: Request['call'];
  if (name === 'login') call = { case: 'login', value: newLoginRequest(value) };
  else if (name === 'getProfile') call = { case: 'getProfile', value: newGetProfileRequest(value) };
  else if (name === 'updateNickname')
    call = { case: 'updateNickname', value: newUpdateNicknameRequest(value) };
  else if (name === 'ping')
    call = {
      case: 'ping',
      value: built(value, 'usermgr.v1.PingRequest')
        ? (value as PingRequest)
        : { $typeName: 'usermgr.v1.PingRequest' },
    };
  else return null;
  return {
    $typeName: 'usermgr.v1.Request',
    id: 0,
    deadlineMs: 0,
    requestId,
    clientIp,
    call,
  };
}

function newSecondStep(i: SecondStepInit): SecondStep {
  if (built(i, 'usermgr.v1.SecondStep')) return i as SecondStep;
  return {
    $typeName: 'usermgr.v1.SecondStep',
    ticket: i.ticket ?? '',
    csrfToken: i.csrfToken ?? '',
    expiresAtMs: i.expiresAtMs ?? 0n,
  };
}

function newLoginResponse(i: LoginResponseInit): LoginResponse {
  if (built(i, 'usermgr.v1.LoginResponse')) return i as LoginResponse;
  const m = {
    $typeName: 'usermgr.v1.LoginResponse',
    token: i.token ?? '',
    expiresAtMs: i.expiresAtMs ?? 0n,
    deviceCookie: i.deviceCookie ?? '',
    deviceCookieExpiresAtMs: i.deviceCookieExpiresAtMs ?? 0n,
  } as LoginResponse;
  if (i.secondStep != null) m.secondStep = newSecondStep(i.secondStep);
  m.persistent = i.persistent ?? false;
  return m;
}

function newUser(i: UserInit): User {
  if (built(i, 'usermgr.v1.User')) return i as User;
  return {
    $typeName: 'usermgr.v1.User',
    id: i.id ?? '0',
    username: i.username ?? '',
    nickname: i.nickname ?? '',
    picture: i.picture ?? '',
    createdAtMs: i.createdAtMs ?? 0n,
    updatedAtMs: i.updatedAtMs ?? 0n,
  };
}

function newIssuedSession(i: IssuedSessionInit): IssuedSession {
  if (built(i, 'usermgr.v1.IssuedSession')) return i as IssuedSession;
  return {
    $typeName: 'usermgr.v1.IssuedSession',
    token: i.token ?? '',
    expiresAtMs: i.expiresAtMs ?? 0n,
    persistent: i.persistent ?? false,
  };
}

function newGetProfileResponse(i: GetProfileResponseInit): GetProfileResponse {
  if (built(i, 'usermgr.v1.GetProfileResponse')) return i as GetProfileResponse;
  const m = { $typeName: 'usermgr.v1.GetProfileResponse' } as GetProfileResponse;
  if (i.user != null) m.user = newUser(i.user);
  m.csrfToken = i.csrfToken ?? '';
  if (i.renewed != null) m.renewed = newIssuedSession(i.renewed);
  return m;
}

function newUpdateNicknameResponse(i: UpdateNicknameResponseInit): UpdateNicknameResponse {
  if (built(i, 'usermgr.v1.UpdateNicknameResponse')) return i as UpdateNicknameResponse;
  const m: UpdateNicknameResponse = { $typeName: 'usermgr.v1.UpdateNicknameResponse' };
  if (i.user != null) m.user = newUser(i.user);
  return m;
}

/**
 * The OK Response to a login, a profile read, a nickname update or a ping, as
 * `create(ResponseSchema, { id, status: OK, result: { case, value } })`
 * makes it; null for any other call.
 */
export function hotResponse(
  id: number,
  status: number,
  name: string,
  value: object,
): Response | null {
  let result: Response['result'];
  if (name === 'login') result = { case: 'login', value: newLoginResponse(value) };
  else if (name === 'getProfile')
    result = { case: 'getProfile', value: newGetProfileResponse(value) };
  else if (name === 'updateNickname')
    result = { case: 'updateNickname', value: newUpdateNicknameResponse(value) };
  else if (name === 'ping') {
    const ping = value as MessageInitShape<typeof PingResponseSchema>;
    result = {
      case: 'ping',
      value: built(ping, 'usermgr.v1.PingResponse')
        ? (ping as PingResponse)
        : { $typeName: 'usermgr.v1.PingResponse', serverId: ping.serverId ?? '' },
    };
  } else return null;
  return {
    $typeName: 'usermgr.v1.Response',
    id,
    status,
    message: '',
    field: '',
    retryAfterS: 0,
    moreFields: [],
    result,
  };
}
