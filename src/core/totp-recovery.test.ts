import { describe, expect, it } from 'bun:test';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './totp-recovery.ts';

describe('unit: recovery codes', () => {
  it('should make ten different codes of 80 bits, shown in four groups', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  });

  it('should read a code as typed: any case, with or without the hyphens, spaces around', () => {
    const [code = ''] = newRecoveryCodes();
    const canonical = code.replaceAll('-', '');
    for (const typed of [code, canonical, code.toUpperCase(), ` ${code.replaceAll('-', ' ')} `])
      expect(normalizeRecoveryCode(typed), typed).toBe(canonical);
    for (const bad of ['', '123456', `${canonical}a`, canonical.slice(1), `${canonical.slice(1)}0`])
      expect(normalizeRecoveryCode(bad), bad).toBeNull();
  });

  it('should hash a code per user, the same however it is typed', () => {
    const [code = ''] = newRecoveryCodes();
    const hash = hashRecoveryCode('7', code);
    expect(hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hashRecoveryCode('7', code.toUpperCase().replaceAll('-', ''))).toBe(hash);
    expect(hashRecoveryCode('8', code)).not.toBe(hash);
  });
});
