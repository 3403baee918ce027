import { describe, expect, it } from 'bun:test';
import { base32Decode } from './base32.ts';
import { hotp, matchStep, type OtpAlgorithm, otpauthUrl, TOTP, timeStep, totp } from './totp.ts';

const ascii = (text: string) => new TextEncoder().encode(text);

/** RFC 4226 appendix D: the secret "12345678901234567890", counters 0 to 9. */
const RFC_4226 = [
  '755224',
  '287082',
  '359152',
  '969429',
  '338314',
  '254676',
  '287922',
  '162583',
  '399871',
  '520489',
];

/** RFC 6238 appendix B: seeds of 20, 32 and 64 bytes for SHA-1, SHA-256, SHA-512; 8 digits. */
const SEEDS: Record<OtpAlgorithm, Uint8Array> = {
  sha1: ascii('12345678901234567890'),
  sha256: ascii('12345678901234567890123456789012'),
  sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};
const RFC_6238: [number, OtpAlgorithm, string][] = [
  [59, 'sha1', '94287082'],
  [59, 'sha256', '46119246'],
  [59, 'sha512', '90693936'],
  [1111111109, 'sha1', '07081804'],
  [1111111109, 'sha256', '68084774'],
  [1111111109, 'sha512', '25091201'],
  [1111111111, 'sha1', '14050471'],
  [1111111111, 'sha256', '67062674'],
  [1111111111, 'sha512', '99943326'],
  [1234567890, 'sha1', '89005924'],
  [1234567890, 'sha256', '91819424'],
  [1234567890, 'sha512', '93441116'],
  [2000000000, 'sha1', '69279037'],
  [2000000000, 'sha256', '90698825'],
  [2000000000, 'sha512', '38618901'],
  [20000000000, 'sha1', '65353130'],
  [20000000000, 'sha256', '77737706'],
  [20000000000, 'sha512', '47863826'],
];

const key = SEEDS.sha1;
const T = 1_700_000_000_000; // a step boundary is irrelevant: steps are computed from it
const step = timeStep(T);
const codeAt = (s: number) => hotp(key, s);

describe('unit: HOTP (RFC 4226)', () => {
  it('should give the appendix D values for counters 0 to 9', () => {
    expect(RFC_4226.map((_, counter) => hotp(key, counter))).toEqual(RFC_4226);
  });
});

describe('unit: TOTP (RFC 6238)', () => {
  it('should give every appendix B test vector, SHA-1, SHA-256 and SHA-512', () => {
    for (const [seconds, algorithm, code] of RFC_6238)
      expect(totp(SEEDS[algorithm], seconds * 1000, 8, algorithm), `${seconds} ${algorithm}`).toBe(
        code,
      );
  });

  it('should count 30-second steps from the epoch, as appendix B tabulates them', () => {
    expect(timeStep(59_000)).toBe(1);
    expect(timeStep(1111111109_000)).toBe(0x23523ec);
    expect(timeStep(20000000000_000)).toBe(0x27bc86aa);
    expect(timeStep(29_999)).toBe(0);
    expect(timeStep(30_000)).toBe(1);
  });

  it('should issue 6 digits of HMAC-SHA-1 by default, the last 6 of the 8-digit vectors', () => {
    expect(TOTP).toMatchObject({ algorithm: 'sha1', digits: 6, periodS: 30 });
    expect(totp(key, 59_000)).toBe('287082');
    expect(totp(key, 1234567890_000)).toBe('005924');
  });
});

describe('unit: matchStep', () => {
  it('should accept the current step and one step of drift either side, and say which', () => {
    expect(matchStep(key, codeAt(step), T, 0)).toBe(step);
    expect(matchStep(key, codeAt(step - 1), T, 0)).toBe(step - 1);
    expect(matchStep(key, codeAt(step + 1), T, 0)).toBe(step + 1);
  });

  it('should refuse codes two steps or more away', () => {
    for (const s of [step - 3, step - 2, step + 2, step + 3]) {
      const code = codeAt(s);
      // A code of a far step may equal a near one's by chance (1 in 10^6): skip that case.
      if ([step - 1, step, step + 1].some((near) => codeAt(near) === code)) continue;
      expect(matchStep(key, code, T, 0), String(s - step)).toBeNull();
    }
  });

  it('should refuse a replay: the step accepted last, and every earlier one', () => {
    expect(matchStep(key, codeAt(step), T, step)).toBeNull();
    expect(matchStep(key, codeAt(step - 1), T, step)).toBeNull();
    expect(matchStep(key, codeAt(step - 1), T, step - 1)).toBeNull();
    // After a code of the step ahead (clock drift), the current step's code is refused too.
    expect(matchStep(key, codeAt(step), T, step + 1)).toBeNull();
    // The next step's code still works once the current one was used.
    expect(matchStep(key, codeAt(step + 1), T, step)).toBe(step + 1);
  });

  it('should refuse anything that is not six digits, and another secret', () => {
    const code = codeAt(step);
    for (const bad of ['', `${code}0`, code.slice(1), ` ${code}`, 'abcdef', '１２３４５６'])
      expect(matchStep(key, bad, T, 0), bad).toBeNull();
    expect(matchStep(SEEDS.sha256, code, T, 0)).toBeNull();
  });
});

describe('unit: otpauthUrl', () => {
  it('should write the key URI authenticator apps read, escaping the label', () => {
    const url = new URL(otpauthUrl('usermgr', 'Ann Lee:1', 'JBSWY3DPEHPK3PXP'));
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/usermgr:Ann Lee:1');
    expect(url.pathname).toBe('/usermgr:Ann%20Lee%3A1');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      secret: 'JBSWY3DPEHPK3PXP',
      issuer: 'usermgr',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
    expect(base32Decode(url.searchParams.get('secret') ?? '')).not.toBeNull();
  });
});
