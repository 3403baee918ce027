/**
 * Checks that every field a message declares arrives with the wire type its
 * declaration implies, before the message is decoded.
 *
 * protobuf-es reads a declared field as its declared type whatever wire
 * type the tag carries, so a damaged or hostile frame can decode to a
 * different, valid-looking request: a `ping` sent as varint 0 is read as a
 * length of 0 and becomes an empty Ping; a string sent as a varint takes its
 * length from the varint and the following bytes as its text. The reference
 * implementation would treat such a field as unknown; refusing the frame is
 * simpler and safer, since only a broken or hostile peer sends one.
 *
 * Unknown fields are skipped (an older peer must accept newer frames), and
 * scalars of a repeated field may come packed or not, as the spec allows.
 * The walk allocates one reader per frame and jumps over string and bytes
 * values, so a 5 MiB picture costs what a ping costs.
 */
import { type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';

interface FieldRule {
  wireType: WireType;
  /** Repeated scalars: the packed form (length-delimited) is accepted as well. */
  packable: boolean;
  /** Message fields: the plan their fields are checked against. */
  plan: Plan | undefined;
}

type Plan = Map<number, FieldRule>;

/** Deeper nesting than the contract has; protobuf-es's own limit is 100. */
const MAX_DEPTH = 32;

const plans = new WeakMap<DescMessage, Plan>();

function planOf(schema: DescMessage): Plan {
  let plan = plans.get(schema);
  if (plan !== undefined) return plan;
  plan = new Map();
  // Set before the fields are read, so that a recursive message finds its own plan.
  plans.set(schema, plan);
  for (const field of schema.fields) plan.set(field.number, ruleOf(field));
  return plan;
}

function ruleOf(field: DescField): FieldRule {
  const rule = (wireType: WireType, packable = false, message?: DescMessage): FieldRule => ({
    wireType,
    packable,
    plan: message === undefined ? undefined : planOf(message),
  });
  switch (field.fieldKind) {
    case 'scalar':
      return rule(scalarWireType(field.scalar));
    case 'enum':
      return rule(WireType.Varint);
    case 'message':
      // A delimited (group-encoded) message is skipped whole, not walked: the contract has none.
      return field.delimitedEncoding
        ? rule(WireType.StartGroup)
        : rule(WireType.LengthDelimited, false, field.message);
    case 'map':
      return rule(WireType.LengthDelimited);
    case 'list':
      if (field.listKind === 'message') {
        return field.delimitedEncoding
          ? rule(WireType.StartGroup)
          : rule(WireType.LengthDelimited, false, field.message);
      }
      if (field.listKind === 'enum') return rule(WireType.Varint, true);
      return field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES
        ? rule(WireType.LengthDelimited)
        : rule(scalarWireType(field.scalar), true);
  }
}

function scalarWireType(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/**
 * Why `bytes` are not an encoding of `schema` as far as wire types go, or
 * null when every declared field has its wire type. Other damage (a bad tag,
 * a length past the end, a group) is reported too, though decoding would
 * catch most of it.
 */
export function wireTypeMismatch(schema: DescMessage, bytes: Uint8Array): string | null {
  const walker = new Walker(bytes);
  return walker.walk(planOf(schema), bytes.length, 0) ? null : walker.reason;
}

/** A hand-rolled reader: no allocation per tag, unlike BinaryReader.tag(). */
class Walker {
  pos = 0;
  reason = '';

  constructor(private readonly buf: Uint8Array) {}

  /** Reads the fields up to `end`; false (with `reason`) at the first fault. */
  walk(plan: Plan, end: number, depth: number): boolean {
    while (this.pos < end) {
      const tag = this.varint();
      if (tag < 0) return this.fail('a tag is not a valid varint');
      const no = tag > 0xffffffff ? 0 : tag >>> 3;
      const wireType = tag & 7;
      if (no === 0) return this.fail('a tag has field number 0 or over 2^29');
      const rule = plan.get(no);
      if (rule !== undefined) {
        if (
          wireType !== rule.wireType &&
          !(rule.packable && wireType === WireType.LengthDelimited)
        ) {
          return this.fail(`field ${no} has wire type ${wireType}, not ${rule.wireType}`);
        }
        if (rule.plan !== undefined && wireType === WireType.LengthDelimited) {
          if (depth >= MAX_DEPTH) return this.fail('messages are nested too deep');
          const length = this.varint();
          if (length < 0 || this.pos + length > end)
            return this.fail(`field ${no} runs past the end of its message`);
          if (!this.walk(rule.plan, this.pos + length, depth + 1)) return false;
          continue;
        }
      }
      if (!this.skip(wireType)) return this.fail(`field ${no} cannot be read`);
      if (this.pos > end) return this.fail(`field ${no} runs past the end of its message`);
    }
    return true;
  }

  private skip(wireType: number): boolean {
    switch (wireType) {
      case WireType.Varint:
        return this.varint() >= 0;
      case WireType.Bit64:
        this.pos += 8;
        return true;
      case WireType.LengthDelimited: {
        const length = this.varint();
        if (length < 0) return false;
        this.pos += length;
        return true;
      }
      case WireType.Bit32:
        this.pos += 4;
        return true;
      default:
        // Groups (3, 4) are proto2 only, and 6 and 7 do not exist.
        return false;
    }
  }

  /** A varint of at most 10 bytes as a number (exact up to 2^53), or -1. */
  private varint(): number {
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.buf.length) return -1;
      const byte = this.buf[this.pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return -1;
  }

  private fail(reason: string): false {
    this.reason = reason;
    return false;
  }
}
