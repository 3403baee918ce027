/**
 * The rules for what people may choose as username, password and nickname,
 * as data, written here and nowhere else. The TCP server's checks
 * (core/validation.ts, the admin listing's prefix), the pages (through the
 * GetAccountRules call) and the OpenAPI document all read them from here, so
 * the document cannot state a rule the server does not apply. Lengths are
 * counted in code points (one emoji is one character), except the
 * nickname's: see NICKNAME_RULE.
 */

/** A field's rule as people read it: words, bounds in characters, an optional pattern. */
interface FieldRule {
  text: string;
  minChars: number;
  maxChars: number;
  /** When not 0, a bound on code points as well (the nickname's characters are graphemes). */
  maxCodePoints: number;
  /** A regular expression without anchors, or '' for none. */
  pattern: string;
}

/** The characters of a username, as a character class valid with both the u and the v flag. */
const USERNAME_CLASS = '[A-Za-z0-9_.\\-]';
const USERNAME_CHARS = { min: 3, max: 32 } as const;
const PASSWORD_CHARS = { min: 8, max: 128 } as const;
const NICKNAME_CHARS = { min: 1, max: 64, codePoints: 256 } as const;

export const USERNAME_RULE = `username must be ${USERNAME_CHARS.min} to ${USERNAME_CHARS.max} characters: letters A-Z, digits, '_', '.' or '-'`;
export const PASSWORD_RULE = `password must be ${PASSWORD_CHARS.min} to ${PASSWORD_CHARS.max} characters`;
/**
 * The least zxcvbn score (0 to 4) a new password must reach: 3 is "safely
 * unguessable" against an online attack and a strong guess against offline
 * cracking of a slow hash (about 10^8 guesses and more). Only the first
 * `estimatedUnits` UTF-16 units are estimated: the estimator's cost grows
 * with length (about 300 ms of CPU for 128 crafted characters, on the TCP
 * server's event loop), and 32 characters are far more than a strong score
 * needs.
 */
export const PASSWORD_STRENGTH = { minScore: 3, estimatedUnits: 32 } as const;
export const PASSWORD_STRENGTH_RULE =
  'password must be hard to guess: not a common password, a name, your username or a keyboard pattern';
/**
 * Counted as people count what they see: in characters as drawn (extended
 * grapheme clusters), so a flag, a family emoji or a letter with its vowel
 * signs is one ("क्षत्रिय" is 3, though 8 code points). The code points are
 * bounded as well, as the store's column is, so that one character cannot
 * carry marks without end; 256 hold 64 of any character a script or the
 * emoji set writes (a family is 7, a person with a skin tone at work 4).
 * A refusal for length says how many were counted (nicknameLengthError).
 */
export const NICKNAME_RULE = `nickname must be ${NICKNAME_CHARS.min} to ${NICKNAME_CHARS.max} characters`;

/** The rule, and how many characters it counted in the nickname refused. */
export function nicknameLengthError(counted: number): string {
  return `${NICKNAME_RULE}: this one has ${counted}`;
}

/** The code-point bound, and how many the nickname refused has. */
export function nicknameCodePointsError(counted: number): string {
  return `nickname must be at most ${NICKNAME_CHARS.codePoints} Unicode code points in all, counting every accent, vowel sign and emoji part: this one has ${counted}`;
}

/** The three rules; the username pattern is valid as an HTML `pattern` (browsers use the v flag). */
export const ACCOUNT_RULES: Readonly<Record<'username' | 'password' | 'nickname', FieldRule>> = {
  username: {
    text: USERNAME_RULE,
    minChars: USERNAME_CHARS.min,
    maxChars: USERNAME_CHARS.max,
    maxCodePoints: 0,
    pattern: `${USERNAME_CLASS}{${USERNAME_CHARS.min},${USERNAME_CHARS.max}}`,
  },
  password: {
    text: `${PASSWORD_RULE}, and hard to guess: not a common password, a name, your username or a keyboard pattern (a few unrelated words work well)`,
    minChars: PASSWORD_CHARS.min,
    maxChars: PASSWORD_CHARS.max,
    maxCodePoints: 0,
    pattern: '',
  },
  nickname: {
    text: NICKNAME_RULE,
    minChars: NICKNAME_CHARS.min,
    maxChars: NICKNAME_CHARS.max,
    maxCodePoints: NICKNAME_CHARS.codePoints,
    pattern: '',
  },
};

/**
 * What a prefix of a username can be: its characters, from `min` of them up
 * to a whole username. Anchored; for the admin listing's `username_prefix`.
 */
export function usernamePrefixPattern(min: 0 | 1): string {
  return `^${USERNAME_CLASS}{${min},${USERNAME_CHARS.max}}$`;
}

/**
 * The most sessions a user's list shows (the newest): older ones stay valid
 * until they end, and the profile page says so when the list is full, since
 * someone holding the password could otherwise push a session of theirs off
 * the owner's list by logging in 50 more times.
 */
export const MAX_LISTED_SESSIONS = 50;
