/**
 * Base32 (RFC 4648 section 6), the alphabet authenticator apps read TOTP
 * secrets in: A-Z and 2-7, no 0, 1, 8 or 9, so nothing read aloud or typed
 * from a screen is ambiguous.
 *
 * encode() writes the canonical text: upper case, without `=` padding (the
 * `otpauth://` key URI format leaves it out). decode() is lenient the way
 * people type a secret: any case, spaces and hyphens between groups, and
 * padding are accepted; anything else outside the alphabet, or a length no
 * encoding has, is refused (null). Unused bits at the end are ignored.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The 5-bit value of each character by its char code; -1 for characters outside the alphabet. */
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  VALUES[ALPHABET.charCodeAt(i)] = i;
  VALUES[ALPHABET.toLowerCase().charCodeAt(i)] = i;
}

/** Lengths of the last group (mod 8) that encode whole bytes: 1, 2, 3 or 4 bytes, or none. */
const WHOLE_BYTES = new Set([0, 2, 4, 5, 7]);

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The bytes of base32 text as people type it; null when it is not base32. */
export function base32Decode(text: string): Uint8Array | null {
  const compact = text.replace(/[\s-]+/g, '').replace(/=+$/, '');
  if (!WHOLE_BYTES.has(compact.length % 8)) return null;
  const out = new Uint8Array(Math.floor((compact.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < compact.length; i++) {
    const code = compact.charCodeAt(i);
    const value = code < 128 ? (VALUES[code] as number) : -1;
    if (value < 0) return null;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}
