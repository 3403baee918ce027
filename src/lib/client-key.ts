/**
 * The client address as the per-address limits and the hash queue see it.
 * An IPv6 client is the /64 it is in: one subscriber, one host or one LAN
 * usually gets a whole /64 (RFC 6177), and picks its interface id freely, so
 * counting each IPv6 address alone would hand it 2^64 budgets. IPv4 is as
 * is, and so is an IPv4 client seen through a dual-stack socket
 * (`::ffff:192.0.2.1` is 192.0.2.1). Anything else (the empty address of a
 * caller that gave none, or whatever a trusted proxy wrote) is its own key,
 * as it was before.
 */
import { isIPv6 } from 'node:net';

const BRACKETED = /^\[([^\]]*)\](?::\d+)?$/;
const DOTTED_TAIL = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function clientKey(address: string): string {
  const host = (BRACKETED.exec(address)?.[1] ?? address).replace(/%.*$/, '');
  if (!isIPv6(host)) return address;
  const groups = groupsOf(host);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail as two groups). */
function groupsOf(ip: string): number[] {
  let text = ip;
  const v4 = DOTTED_TAIL.exec(text);
  if (v4 !== null) {
    const [a = 0, b = 0, c = 0, d = 0] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const before = head === '' ? [] : head.split(':');
  const after = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - before.length - after.length;
  return [...before, ...Array<string>(zeros).fill('0'), ...after].map((g) =>
    Number.parseInt(g, 16),
  );
}
