import { describe, expect, it } from 'bun:test';
import {
  ACCOUNT_RULES,
  NICKNAME_RULE,
  nicknameCodePointsError,
  PASSWORD_RULE,
  PASSWORD_STRENGTH_RULE,
} from '../wire/account-rules.ts';
import { passwordStrengthError } from './password-strength.ts';
import {
  checkNewPassword,
  checkNickname,
  checkUsername,
  codePoints,
  graphemes,
  NICKNAME_ERRORS,
  normalizePassword,
} from './validation.ts';

const ok = (value: string) => ({ value });
/** Eight code points, sixteen UTF-16 units, and strong enough. */
const EIGHT_EMOJI = '🔑🐙🌵🎻🧲🪁🦉🍋';
const failed = (result: object) => 'error' in result;
const refusal = (result: object) => ('error' in result ? result.error : null);
/** A new password by both rules: the form (checkNewPassword), then the estimator (on a thread in the server). */
const newPassword = (password: string, userInputs: string[] = []) => {
  const checked = checkNewPassword(password);
  if ('error' in checked) return checked;
  const error = passwordStrengthError(checked.value, userInputs);
  return error === null ? checked : { error };
};

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

  it('should drop spaces around a username, which none can hold, and nothing else', () => {
    expect(checkUsername('alice ')).toEqual(ok('alice'));
    expect(checkUsername(' \talice\u00a0')).toEqual(ok('alice'));
    expect(failed(checkUsername('al ice'))).toBe(true);
    expect(failed(checkUsername('   '))).toBe(true);
    expect(failed(checkUsername('\u200balice'))).toBe(true);
  });

  it('should count passwords in code points, keep spaces and NUL, and normalise to NFC', () => {
    expect(checkNewPassword('  quartz lantern mosaic  ')).toEqual(ok('  quartz lantern mosaic  '));
    expect(checkNewPassword('nul\0inside violet kettle')).toEqual(ok('nul\0inside violet kettle'));
    expect(checkNewPassword(EIGHT_EMOJI)).toEqual(ok(EIGHT_EMOJI));
    expect(failed(checkNewPassword([...EIGHT_EMOJI].slice(1).join('')))).toBe(true);
    expect(failed(checkNewPassword('x'.repeat(129)))).toBe(true);
    // "é" as e + combining acute becomes the single code point U+00E9.
    expect(checkNewPassword('caf\u0065\u0301-latte-orbit-77')).toEqual(
      ok('caf\u00e9-latte-orbit-77'),
    );
  });

  it('should refuse common and easily guessed passwords, naming the rule and the advice', () => {
    for (const weak of ['12345678', 'password1', 'qwertyuiop', 'xxxxxxxxxxxx', 'abcd1234']) {
      const checked = newPassword(weak);
      expect(checked).toEqual({ error: expect.stringContaining(PASSWORD_STRENGTH_RULE) });
    }
    expect(newPassword('12345678')).toEqual({
      error: expect.stringContaining('This is a heavily used password.'),
    });
    for (const strong of ['correct horse battery staple', 'quartz lantern mosaic', 'Tr0ub4dor&3'])
      expect(newPassword(strong)).toEqual(ok(strong));
  });

  // An operator audit: a short random password was told not to be a common password, a
  // name, a username or a keyboard pattern, none of which it was.
  it('should say that a short password without any pattern is too short, and nothing else', () => {
    for (const short of ['Zx9#qLm2', 'kL9$wq!e']) {
      const checked = newPassword(short);
      expect(checked).toEqual({
        error:
          'password must be hard to guess: one this short is found by trying every combination. ' +
          'Make it longer: a few unrelated words work well.',
      });
    }
  });

  it('should estimate only the first characters, so that a long password costs no more', () => {
    const strongStart = `quartz lantern mosaic ${'1234'.repeat(26)}`;
    expect(newPassword(strongStart)).toEqual(ok(strongStart));
    // The strong part is past what the estimator reads: refused, a documented limit.
    expect(failed(newPassword(`${'1234'.repeat(10)}quartz lantern mosaic`))).toBe(true);
  });

  it('should refuse a password made of the username or nickname it is given', () => {
    expect(newPassword('kettle-violet-orbit')).toEqual(ok('kettle-violet-orbit'));
    expect(failed(newPassword('kettle-violet-orbit', ['kettle-violet-orbit']))).toBe(true);
    expect(failed(newPassword('Kettle.Violet.Orbit!', ['kettle.violet.orbit']))).toBe(true);
    expect(failed(newPassword('kettle-violet-orbit', ['someone', 'kettle-violet-orbit']))).toBe(
      true,
    );
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
    // Format characters that are written, where their script puts them: the Arabic
    // number sign and end of ayah before digits, the Mongolian vowel separator
    // between Mongolian letters; anywhere else they are refused as hidden.
    for (const good of ['\u0600\u0661\u0662\u0663', '\u06DD\u0661\u0662', 'ᠬᠠᠷ\u180Eᠠ'])
      expect(checkNickname(good)).toEqual(ok(good));
    for (const bad of [
      '\u0600',
      '\u0600a',
      'a\u0600',
      '\u0600\u0600\u0661',
      '\u180Eᠠ',
      'ab\u180Eᠠ',
      'ᠬᠠᠷ\u180E',
      'ᠬᠠᠷ\u180Ea',
    ])
      expect([bad, refusal(checkNickname(bad))]).toEqual([
        bad,
        expect.stringMatching(/^nickname must not contain invisible characters .*: it has U\+/),
      ]);
    expect(codePoints('🎉a')).toBe(2);
    // Spaces alone are not too short: they show nothing, and the message says so.
    expect(checkNickname('   ')).toEqual({ error: NICKNAME_ERRORS.invisible });
    expect(checkNickname('')).toEqual({ error: `${NICKNAME_RULE}: this one has 0` });
    expect(checkNickname('x'.repeat(65))).toEqual({ error: `${NICKNAME_RULE}: this one has 65` });
  });

  // Regression: lengths were code points, so ten family emoji (seven each) were "70
  // characters" and a Hindi name of a few letters counted two or three for each.
  it('should count a nickname in characters as drawn, with a bound on code points', () => {
    const family = '👨‍👩‍👧‍👦';
    expect(graphemes(family)).toBe(1);
    expect(graphemes('क्षत्रिय')).toBe(3);
    expect(graphemes('🇯🇵👍🏽é')).toBe(3);
    expect(checkNickname(family.repeat(10))).toEqual(ok(family.repeat(10)));
    const hindi = 'क्षत्रिय '.repeat(16).trim(); // 16 × 4 - 1 characters, 143 code points
    expect(checkNickname(hindi)).toEqual(ok(hindi));
    expect(checkNickname(`${hindi} क`)).toEqual({ error: `${NICKNAME_RULE}: this one has 65` });
    // 37 families are 37 characters but 37 × 7 = 259 code points.
    expect(checkNickname(family.repeat(37))).toEqual({ error: nicknameCodePointsError(259) });
    // 64 people at work with a skin tone (4 code points each) are exactly the bound.
    const coder = '👩🏽‍💻';
    expect(checkNickname(coder.repeat(64))).toEqual(ok(coder.repeat(64)));
    // One letter under a pile of accents is one character, held by the code points
    // (NFC makes the first accent and the e one code point).
    const piled = `e${'\u0301'.repeat(257)}`;
    expect(graphemes(piled)).toBe(1);
    expect(checkNickname(piled)).toEqual({ error: nicknameCodePointsError(257) });
    // More characters than the bound, whatever their code points, say the characters.
    expect(checkNickname(coder.repeat(65))).toEqual({ error: `${NICKNAME_RULE}: this one has 65` });
  });

  // An attack audit: "a" with 200 acute accents, or a Thai letter with 250 tone marks, was
  // one character under the code point bound, drawn over the lines around it.
  it('should refuse more than 8 marks on one character, and keep what scripts write', () => {
    // A joiner between runs of eight kept them one character (a review).
    const joined = `x${`${'\u0300'.repeat(8)}\u200C`.repeat(27)}${'\u0300'.repeat(8)}`;
    for (const piled of [
      `a${'\u0301'.repeat(200)}`,
      `ก${'\u0E48'.repeat(250)}`,
      `x${'\u0300\u0301\u0302'.repeat(3)}`,
      joined,
    ])
      expect(checkNickname(piled)).toEqual({ error: NICKNAME_ERRORS.stacked });
    for (const written of [
      'Nguyễn Thị Minh Khai', // Vietnamese: two marks on a letter
      'בְּרֵאשִׁ֖ית', // pointed Hebrew with a cantillation mark
      'ཧྐྵྨླྺ', // a Tibetan stack
      'بِسْمِ ٱللَّهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ', // Quranic Arabic
      'ကျွန်ုပ်', // Myanmar
      '👁️‍🗨️ 1️⃣', // emoji with variation selectors and a keycap
      'क्षत्रिय',
      'ผู้ใหญ่',
      `e${'\u0301'.repeat(7)}`, // NFC makes the first accent part of the é: 6 stacked
    ])
      expect(checkNickname(written)).toEqual(ok(written.normalize('NFC')));
  });
});

/**
 * Nicknames decided by Unicode property. Regression: Hangul fillers and the
 * braille blank passed the "visible character" rule, direction marks passed
 * the "no direction characters" rule, and tag characters could carry hidden
 * text after a visible name.
 */
describe('unit: nickname characters by Unicode property', () => {
  const { controlOrDirection, hidden, invisible } = NICKNAME_ERRORS;
  const accepted: [string, string][] = [
    ['emoji ZWJ family', '👩\u200D👩\u200D👧'],
    ['emoji with presentation selector and ZWJ (heart on fire)', '❤\uFE0F\u200D🔥'],
    ['keycap', '1\uFE0F\u20E3'],
    ['skin tone', '👋🏽'],
    ['country flag (regional indicators)', '🇫🇮'],
    ['England flag (tag sequence)', '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}'],
    ['Scotland flag beside text', 'Ada 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}'],
    ['Persian with ZWNJ', 'می\u200Cخواهم'],
    ['Devanagari with virama and ZWJ', 'क्\u200Dष'],
    ['CJK ideographic variation selector', '葛\u{E0100}'],
    ['Mongolian free variation selector', 'ᠠ\u180B'],
    ['Hangul syllables', '한글'],
    ['braille word with a braille blank inside', '⠁⠃\u2800⠉'],
    ['inner spaces of any kind', 'a\u3000b c'],
    ['Arabic, right to left by itself', 'مرحبا'],
  ];
  const refused: [string, string, string][] = [
    ['Hangul filler', '\u3164', hidden],
    ['Hangul choseong filler', '\u115F', hidden],
    ['Hangul jungseong filler', '\u1160', hidden],
    ['halfwidth Hangul filler', '\uFFA0', hidden],
    ['Hangul filler inside a name', 'a\u3164b', hidden],
    ['braille blank alone', '\u2800\u2800', invisible],
    ['musical null notehead alone', '\u{1D159}', invisible],
    ['combining marks alone', '\u0301\u0302', invisible],
    ['private use only', '\uE000', invisible],
    ['left-to-right mark', 'a\u200Eb', controlOrDirection],
    ['right-to-left mark', '\u200Fadmin', controlOrDirection],
    ['Arabic letter mark', 'a\u061C', controlOrDirection],
    ['right-to-left override', 'a\u202Egnp.exe', controlOrDirection],
    ['first strong isolate', 'a\u2068b', controlOrDirection],
    ['line separator', 'a\u2028b', controlOrDirection],
    ['paragraph separator', 'a\u2029b', controlOrDirection],
    ['tab', 'tab\there', controlOrDirection],
    ['C1 control', 'a\u0085b', controlOrDirection],
    ['tag text after a name', 'alice\u{E0068}\u{E0069}', hidden],
    ['tag text after a black flag', '🏴\u{E0068}\u{E0069}\u{E007F}', hidden],
    ['language tag', '\u{E0001}\u{E0065}\u{E006E}a', hidden],
    ['cancel tag alone', 'a\u{E007F}', hidden],
    ['zero-width space', 'a\u200Bb', hidden],
    ['zero-width joiners only', '\u200D\u200D', hidden],
    ['joiner at the end', 'a\u200D', hidden],
    ['joiner before a space', 'a\u200D b', hidden],
    ['word joiner', 'a\u2060b', hidden],
    ['invisible times', 'a\u2062b', hidden],
    ['byte order mark inside', 'a\uFEFFb', hidden],
    ['soft hyphen', 'a\u00ADb', hidden],
    ['combining grapheme joiner', 'a\u034Fb', hidden],
    ['Khmer inherent vowel', 'a\u17B4', hidden],
    ['Mongolian vowel separator', 'a\u180Eb', hidden],
    ['variation selector alone', '\uFE0F', hidden],
    ['two variation selectors (hidden bytes)', 'a\uFE00\uFE01', hidden],
    ['supplementary variation selectors (hidden bytes)', '😀\u{E0100}\u{E0101}\u{E0102}', hidden],
    ['interlinear annotation', '\uFFF9a\uFFFAb\uFFFB', hidden],
    ['shorthand format control', 'a\u{1BCA0}b', hidden],
    ['musical formatting', 'a\u{1D173}b', hidden],
  ];

  it.each(accepted)('should accept %s', (_name, nickname) => {
    expect(checkNickname(nickname)).toEqual(ok(nickname.normalize('NFC')));
  });

  it.each(refused)('should refuse %s', (_name, nickname, error) => {
    const named = error === invisible ? error : expect.stringMatching(/: it has U\+[0-9A-F]{4,6}/);
    expect(refusal(checkNickname(nickname))).toEqual(named);
    expect(refusal(checkNickname(nickname))).toStartWith(error);
  });

  // Regression (a browser audit): "must not contain control characters" left a person to
  // find a tab they could not see in what they pasted.
  it('should name the character a nickname is refused for', () => {
    expect(refusal(checkNickname('tab\there'))).toBe(
      `${controlOrDirection}: it has U+0009 (a tab)`,
    );
    expect(refusal(checkNickname('abc\u202Etxt'))).toBe(
      `${controlOrDirection}: it has U+202E (a right-to-left override)`,
    );
    expect(refusal(checkNickname('a\u200Bb'))).toBe(
      `${hidden}: it has U+200B (a zero-width space)`,
    );
    expect(refusal(checkNickname('a\u200D'))).toBe(
      `${hidden}: it has U+200D (a zero-width joiner)`,
    );
    expect(refusal(checkNickname('alice\u{E0068}\u{E0069}'))).toBe(
      `${hidden}: it has U+E0068 (a tag character)`,
    );
    expect(refusal(checkNickname('a\u2062b'))).toBe(`${hidden}: it has U+2062`);
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
    const shortest = [...EIGHT_EMOJI].slice(0, password.minChars).join('');
    expect(checkNewPassword(shortest)).toEqual(ok(shortest));
    expect(checkNewPassword(shortest.slice(2))).toEqual({ error: PASSWORD_RULE });
    const longest = `quartz lantern mosaic ${'x'.repeat(password.maxChars - 22)}`;
    expect(checkNewPassword(longest)).toEqual(ok(longest));
    expect(checkNewPassword(`${longest}x`)).toEqual({ error: PASSWORD_RULE });
    expect(failed(checkNickname('x'.repeat(nickname.maxChars)))).toBe(false);
    expect(failed(checkNickname('x'.repeat(nickname.maxChars + 1)))).toBe(true);
    expect(password.text).toStartWith(`${PASSWORD_RULE}, and hard to guess`);
  });
});
