/**
 * The rules for what people may choose. Each check returns the normalised
 * value or a message naming the rule: bad input is expected, not exceptional.
 */
import {
  ACCOUNT_RULES,
  NICKNAME_RULE,
  PASSWORD_RULE,
  USERNAME_RULE,
} from '../wire/account-rules.ts';

export type Checked = { value: string } | { error: string };

const { password: PASSWORD, nickname: NICKNAME } = ACCOUNT_RULES;
const USERNAME = new RegExp(`^(?:${ACCOUNT_RULES.username.pattern})$`, 'v');
// C0/C1 controls, line and paragraph separators, and the bidirectional
// embedding, override and isolate controls that can make text display as
// something else (U+202E turns "txt.exe" around).
const FORBIDDEN_IN_NICKNAME = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
// What cannot be seen on its own: spaces and format characters such as U+200D.
const INVISIBLE = /[\p{White_Space}\p{Cf}]/gu;

export function checkUsername(username: string): Checked {
  return USERNAME.test(username) ? { value: username } : { error: USERNAME_RULE };
}

/** Counted in code points, so one emoji is one character. */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Passwords are NFC-normalised (the same password typed on two keyboards
 * hashes the same) and never trimmed: spaces are part of a password.
 */
export function checkNewPassword(password: string): Checked {
  if (!password.isWellFormed()) return { error: 'password must be valid Unicode text' };
  const value = password.normalize('NFC');
  const length = codePoints(value);
  return length >= PASSWORD.minChars && length <= PASSWORD.maxChars
    ? { value }
    : { error: PASSWORD_RULE };
}

/** For login: the form of a password that could be stored, without the minimum length. */
export function normalizePassword(password: string): Checked {
  if (!password.isWellFormed()) return { error: 'password must be valid Unicode text' };
  const value = password.normalize('NFC');
  return codePoints(value) <= PASSWORD.maxChars ? { value } : { error: PASSWORD_RULE };
}

/** Nicknames: NFC, trimmed, 1 to 64 code points, something visible, no control or bidi-override characters. */
export function checkNickname(nickname: string): Checked {
  if (!nickname.isWellFormed()) return { error: 'nickname must be valid Unicode text' };
  const value = nickname.normalize('NFC').trim();
  const length = codePoints(value);
  if (length < NICKNAME.minChars || length > NICKNAME.maxChars) return { error: NICKNAME_RULE };
  if (FORBIDDEN_IN_NICKNAME.test(value)) {
    return { error: 'nickname must not contain control or text-direction characters' };
  }
  if (value.replace(INVISIBLE, '') === '')
    return { error: 'nickname must contain a visible character' };
  return { value };
}
