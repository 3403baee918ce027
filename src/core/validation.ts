/**
 * The rules for what people may choose. Each check returns the normalised
 * value or a message naming the rule: bad input is expected, not exceptional.
 */
export type Checked = { value: string } | { error: string };

const PASSWORD_CHARS = { min: 8, max: 128 } as const;
const NICKNAME_CHARS = { min: 1, max: 64 } as const;
/** Valid with both the u and the v flag, so browsers can use it as an HTML `pattern`. */
const USERNAME_PATTERN = '[A-Za-z0-9_.\\-]{3,32}';
const USERNAME = new RegExp(`^(?:${USERNAME_PATTERN})$`, 'v');
// C0/C1 controls, line and paragraph separators, and the bidirectional
// embedding, override and isolate controls that can make text display as
// something else (U+202E turns "txt.exe" around).
const FORBIDDEN_IN_NICKNAME = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
// What cannot be seen on its own: spaces and format characters such as U+200D.
const INVISIBLE = /[\p{White_Space}\p{Cf}]/gu;

export const USERNAME_RULE =
  "username must be 3 to 32 characters: letters A-Z, digits, '_', '.' or '-'";
export const PASSWORD_RULE = `password must be ${PASSWORD_CHARS.min} to ${PASSWORD_CHARS.max} characters`;
export const NICKNAME_RULE = `nickname must be ${NICKNAME_CHARS.min} to ${NICKNAME_CHARS.max} characters`;

/** A field's rule as the pages show it: words, bounds in code points, an optional pattern. */
export interface FieldRule {
  text: string;
  minChars: number;
  maxChars: number;
  pattern: string;
}

/** The rules above, for the pages (the GetAccountRules call): written here and nowhere else. */
export const ACCOUNT_RULES: Readonly<Record<'username' | 'password' | 'nickname', FieldRule>> = {
  username: { text: USERNAME_RULE, minChars: 3, maxChars: 32, pattern: USERNAME_PATTERN },
  password: {
    text: PASSWORD_RULE,
    minChars: PASSWORD_CHARS.min,
    maxChars: PASSWORD_CHARS.max,
    pattern: '',
  },
  nickname: {
    text: NICKNAME_RULE,
    minChars: NICKNAME_CHARS.min,
    maxChars: NICKNAME_CHARS.max,
    pattern: '',
  },
};

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
  return length >= PASSWORD_CHARS.min && length <= PASSWORD_CHARS.max
    ? { value }
    : { error: PASSWORD_RULE };
}

/** For login: the form of a password that could be stored, without the minimum length. */
export function normalizePassword(password: string): Checked {
  if (!password.isWellFormed()) return { error: 'password must be valid Unicode text' };
  const value = password.normalize('NFC');
  return codePoints(value) <= PASSWORD_CHARS.max ? { value } : { error: PASSWORD_RULE };
}

/** Nicknames: NFC, trimmed, 1 to 64 code points, something visible, no control or bidi-override characters. */
export function checkNickname(nickname: string): Checked {
  if (!nickname.isWellFormed()) return { error: 'nickname must be valid Unicode text' };
  const value = nickname.normalize('NFC').trim();
  const length = codePoints(value);
  if (length < NICKNAME_CHARS.min || length > NICKNAME_CHARS.max) return { error: NICKNAME_RULE };
  if (FORBIDDEN_IN_NICKNAME.test(value)) {
    return { error: 'nickname must not contain control or text-direction characters' };
  }
  if (value.replace(INVISIBLE, '') === '')
    return { error: 'nickname must contain a visible character' };
  return { value };
}
