/**
 * The rules for what people may choose as username, password and nickname,
 * as data, written here and nowhere else. The TCP server's checks
 * (core/validation.ts, the admin listing's prefix), the pages (through the
 * GetAccountRules call) and the OpenAPI document all read them from here, so
 * the document cannot state a rule the server does not apply. Lengths are
 * counted in code points: one emoji is one character.
 */

/** A field's rule as people read it: words, bounds in code points, an optional pattern. */
interface FieldRule {
  text: string;
  minChars: number;
  maxChars: number;
  /** A regular expression without anchors, or '' for none. */
  pattern: string;
}

/** The characters of a username, as a character class valid with both the u and the v flag. */
const USERNAME_CLASS = '[A-Za-z0-9_.\\-]';
const USERNAME_CHARS = { min: 3, max: 32 } as const;
const PASSWORD_CHARS = { min: 8, max: 128 } as const;
const NICKNAME_CHARS = { min: 1, max: 64 } as const;

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
 * Counted in code points, as the store's column is: an emoji made of several
 * (a family, a flag, a skin tone), and in some scripts a letter with a vowel
 * sign or an accent, counts as several, and the rule says so, since people
 * count what they see ("क्षत्रिय" is 3 to the eye and 8 here). A refusal for
 * length also says how many were given (nicknameLengthError).
 */
export const NICKNAME_RULE = `nickname must be ${NICKNAME_CHARS.min} to ${NICKNAME_CHARS.max} characters (an emoji made of several, such as a flag or a family, counts as several, and so does a letter with a vowel sign or accent in some scripts)`;

/** The rule, and how many characters it counted in the nickname refused. */
export function nicknameLengthError(counted: number): string {
  return `${NICKNAME_RULE}: this one has ${counted}`;
}

/** The three rules; the username pattern is valid as an HTML `pattern` (browsers use the v flag). */
export const ACCOUNT_RULES: Readonly<Record<'username' | 'password' | 'nickname', FieldRule>> = {
  username: {
    text: USERNAME_RULE,
    minChars: USERNAME_CHARS.min,
    maxChars: USERNAME_CHARS.max,
    pattern: `${USERNAME_CLASS}{${USERNAME_CHARS.min},${USERNAME_CHARS.max}}`,
  },
  password: {
    text: `${PASSWORD_RULE}, and hard to guess: not a common password, a name, your username or a keyboard pattern (a few unrelated words work well)`,
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
