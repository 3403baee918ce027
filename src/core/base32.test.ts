import { describe, expect, it } from 'bun:test';
import { base32Decode, base32Encode } from './base32.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/** RFC 4648 section 10, without the padding, which encode() leaves out. */
const RFC_4648_VECTORS: [string, string][] = [
  ['', ''],
  ['f', 'MY'],
  ['fo', 'MZXQ'],
  ['foo', 'MZXW6'],
  ['foob', 'MZXW6YQ'],
  ['fooba', 'MZXW6YTB'],
  ['foobar', 'MZXW6YTBOI'],
];

describe('unit: base32', () => {
  it('should encode the RFC 4648 test vectors, without padding', () => {
    for (const [plain, encoded] of RFC_4648_VECTORS)
      expect(base32Encode(bytes(plain)), plain).toBe(encoded);
  });

  it('should decode the RFC 4648 test vectors, with and without padding', () => {
    for (const [plain, encoded] of RFC_4648_VECTORS) {
      expect(base32Decode(encoded), encoded).toEqual(bytes(plain));
      const padded = encoded.padEnd(Math.ceil(encoded.length / 8) * 8, '=');
      expect(base32Decode(padded), padded).toEqual(bytes(plain));
    }
  });

  it('should read a secret as people type it: lower case, spaces and hyphens between groups', () => {
    const secret = crypto.getRandomValues(new Uint8Array(20));
    const text = base32Encode(secret);
    expect(text).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(text.toLowerCase())).toEqual(secret);
    const grouped = text.match(/.{4}/g)?.join(' ') ?? '';
    expect(base32Decode(grouped)).toEqual(secret);
    expect(base32Decode(grouped.replaceAll(' ', '-'))).toEqual(secret);
  });

  it('should round-trip every length from 0 to 64 bytes', () => {
    for (let n = 0; n <= 64; n++) {
      const data = crypto.getRandomValues(new Uint8Array(n));
      expect(base32Decode(base32Encode(data)), String(n)).toEqual(data);
    }
  });

  it('should refuse characters outside the alphabet and lengths no encoding has', () => {
    for (const bad of ['MZXW0', 'MZXW1', 'MZXW8', 'MZ!W6', 'MZXWé', 'M', 'MZX', 'MZXW6Y=Q', 'A'])
      expect(base32Decode(bad), bad).toBeNull();
  });
});
