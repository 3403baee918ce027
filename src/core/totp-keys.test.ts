import { describe, expect, it } from 'bun:test';
import { SecretBox, totpKey } from './totp-keys.ts';

const OLD = totpKey('an older secret for the sealing key'.padEnd(40, '!'));
const NEW = totpKey('a newer secret for the sealing key'.padEnd(40, '?'));
const secret = crypto.getRandomValues(new Uint8Array(20));

describe('unit: SecretBox', () => {
  it('should open what it sealed, for the same user only, as it was', () => {
    const box = new SecretBox([NEW]);
    const sealed = box.seal(secret, '123');
    expect(sealed).toMatch(/^1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/);
    expect(sealed.length).toBeLessThanOrEqual(100); // the column's width
    expect(box.open(sealed, '123')).toEqual({ secret, stale: false });
    expect(box.open(sealed, '124')).toBeNull();
    // A fresh nonce every time: the same secret never seals to the same text.
    expect(box.seal(secret, '123')).not.toBe(sealed);
  });

  it('should refuse altered, truncated and foreign text', () => {
    const box = new SecretBox([NEW]);
    const sealed = box.seal(secret, '123');
    const body = sealed.slice(11);
    const flipped = `${sealed.slice(0, 11)}${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`;
    expect(box.open(flipped, '123')).toBeNull();
    expect(box.open(sealed.slice(0, -4), '123')).toBeNull();
    expect(new SecretBox([OLD]).open(sealed, '123')).toBeNull();
    for (const bad of [
      '',
      '1..',
      `2${sealed.slice(1)}`,
      `${sealed}=`,
      `1.00000000.${body}`,
      'x'.repeat(200),
    ])
      expect(box.open(bad, '123'), bad).toBeNull();
  });

  it('should seal under the first key and open under every key, saying when it was another', () => {
    const before = new SecretBox([OLD]).seal(secret, '9');
    const rotated = new SecretBox([NEW, OLD]);
    expect(rotated.open(before, '9')).toEqual({ secret, stale: true });
    expect(rotated.open(rotated.seal(secret, '9'), '9')).toEqual({ secret, stale: false });
    // Retired: once OLD is gone, what only OLD sealed no longer opens.
    expect(new SecretBox([NEW]).open(before, '9')).toBeNull();
  });

  it('should derive a key per string, not the string itself', () => {
    expect(totpKey('x'.repeat(32))).toHaveLength(32);
    expect(totpKey('x'.repeat(32))).toEqual(totpKey('x'.repeat(32)));
    expect(totpKey('x'.repeat(32))).not.toEqual(totpKey('y'.repeat(32)));
    expect(() => new SecretBox([])).toThrow();
    expect(() => new SecretBox([new Uint8Array(16)])).toThrow();
  });
});
