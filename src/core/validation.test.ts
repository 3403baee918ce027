import { describe, expect, it } from 'bun:test';
import { ACCOUNT_RULES } from '../wire/account-rules.ts';
import {
  checkNewPassword,
  checkNickname,
  checkUsername,
  codePoints,
  normalizePassword,
} from './validation.ts';

const ok = (value: string) => ({ value });
const failed = (result: object) => 'error' in result;

describe('unit: validation', () => {
  it('should accept usernames of the allowed alphabet and length only', () => {
    for (const name of ['abc', 'A.b-c_9', 'x'.repeat(32)])
      expect(checkUsername(name)).toEqual(ok(name));
    for (const name of [
      'ab',
      'x'.repeat(33),
      'a b',
      'ünï',
      "a'; DROP TABLE users;--",
      '',
      'a\0b',
    ]) {
      expect(failed(checkUsername(name))).toBe(true);
    }
  });

  it('should count passwords in code points, keep spaces and NUL, and normalise to NFC', () => {
    expect(checkNewPassword('  spaced  ')).toEqual(ok('  spaced  '));
    expect(checkNewPassword('nul\0inside')).toEqual(ok('nul\0inside'));
    expect(checkNewPassword('🔑'.repeat(8))).toEqual(ok('🔑'.repeat(8)));
    expect(failed(checkNewPassword('🔑'.repeat(7)))).toBe(true);
    expect(failed(checkNewPassword('x'.repeat(129)))).toBe(true);
    // "é" as e + combining acute becomes the single code point U+00E9.
    expect(checkNewPassword('caf\u0065\u0301-latte')).toEqual(ok('caf\u00e9-latte'));
  });

  it('should refuse lone surrogates, which would hash the same as U+FFFD', () => {
    expect(failed(checkNewPassword('abcdefgh\ud800'))).toBe(true);
    expect(failed(normalizePassword('\udc00'))).toBe(true);
    expect(normalizePassword('')).toEqual(ok(''));
  });

  it('should trim and normalise nicknames and keep any script and emoji', () => {
    expect(checkNickname('  名前 🎉 Ünïcödé  ')).toEqual(ok('名前 🎉 Ünïcödé'));
    expect(checkNickname('Ẓoë 李小龙 🚀')).toEqual(ok('Ẓoë 李小龙 🚀'));
    expect(checkNickname('👩‍👩‍👧')).toEqual(ok('👩‍👩‍👧'));
    expect(checkNickname('🎉'.repeat(64))).toEqual(ok('🎉'.repeat(64)));
    expect(checkNickname('<script>alert(1)</script>')).toEqual(ok('<script>alert(1)</script>'));
  });

  it('should refuse empty, invisible, too long, control and bidi-override nicknames', () => {
    for (const bad of [
      '',
      '   ',
      '\u200d\u200d',
      '\u200b',
      'x'.repeat(65),
      'a\u202Egnp.exe',
      'tab\there',
      'a\u2066b',
      'a\ud800',
    ]) {
      expect(failed(checkNickname(bad))).toBe(true);
    }
    expect(codePoints('🎉a')).toBe(2);
  });
});

describe('unit: ACCOUNT_RULES', () => {
  it('should give browsers a username pattern that agrees with checkUsername, in u and v mode', () => {
    const samples = [
      'abc',
      'A.b-c_9',
      'x'.repeat(32),
      'ab',
      'x'.repeat(33),
      'a b',
      'ünï',
      'a-',
      '-',
    ];
    for (const flags of ['u', 'v']) {
      // Browsers anchor the pattern attribute like this.
      const html = new RegExp(`^(?:${ACCOUNT_RULES.username.pattern})$`, flags);
      for (const name of samples) expect(html.test(name)).toBe(!failed(checkUsername(name)));
    }
  });

  it('should state the same bounds the checks apply', () => {
    const { password, nickname } = ACCOUNT_RULES;
    expect(failed(checkNewPassword('x'.repeat(password.minChars)))).toBe(false);
    expect(failed(checkNewPassword('x'.repeat(password.minChars - 1)))).toBe(true);
    expect(failed(checkNewPassword('x'.repeat(password.maxChars + 1)))).toBe(true);
    expect(failed(checkNickname('x'.repeat(nickname.maxChars)))).toBe(false);
    expect(failed(checkNickname('x'.repeat(nickname.maxChars + 1)))).toBe(true);
    expect(password.text).toBe('password must be 8 to 128 characters');
  });
});
