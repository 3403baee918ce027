/**
 * The rules for what people may choose. Each check returns the normalised
 * value or a message naming the rule: bad input is expected, not exceptional.
 */
import {
  ACCOUNT_RULES,
  nicknameCodePointsError,
  nicknameLengthError,
  PASSWORD_RULE,
  USERNAME_RULE,
} from '../wire/account-rules.ts';

export type Checked = { value: string } | { error: string };

const { password: PASSWORD, nickname: NICKNAME } = ACCOUNT_RULES;
const USERNAME = new RegExp(`^(?:${ACCOUNT_RULES.username.pattern})$`, 'v');

// Nickname rules by Unicode property, so that they hold for characters no list
// here names. Never anywhere: C0/C1 controls, line and paragraph separators,
// and every Bidi_Control character (embeddings, overrides and isolates, and the
// direction marks LRM, RLM and ALM), which make text display as something
// else (U+202E turns "txt.exe" around).
const CONTROL_OR_DIRECTION = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;
// Hidden: Default_Ignorable_Code_Point (drawn as nothing: zero-width
// characters, Hangul fillers, tag characters, variation selectors...) and the
// other format characters (interlinear annotation...). Only the joiners and
// selectors below are allowed, and only where they act on what they touch,
// so nothing can be carried unseen.
const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/u;
// ZWNJ and ZWJ, between two characters: Persian and Indic spelling, emoji sequences.
const JOINER = /[\u200C\u200D]/u;
// One variation selector after a character: emoji presentation (U+FE0F), CJK
// ideographic variants, Mongolian free variation selectors.
const SELECTOR = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}\u180B-\u180D\u180F]/u;
// Format characters that are written, in their place: the prepended
// concatenation marks (the Arabic number sign, the end of ayah...) before a
// digit, which they span; the Mongolian vowel separator between two Mongolian
// letters, where the spelling needs it.
// Prepended_Concatenation_Mark (Unicode 15), which no regular expression property names.
const PREPENDED = /[\u0600-\u0605\u06DD\u070F\u0890\u0891\u08E2\u{110BD}\u{110CD}]/u;
const DIGIT = /\p{Nd}/u;
const MONGOLIAN_VOWEL_SEPARATOR = '\u180E';
const MONGOLIAN_LETTER = /[\p{Script=Mongolian}&&\p{L}]/v;
// Tag characters only as the three emoji flags made of them (England, Scotland,
// Wales); anywhere else they carry hidden text.
const TAG_FLAG =
  /\u{1F3F4}\u{E0067}\u{E0062}(?:\u{E0065}\u{E006E}\u{E0067}|\u{E0073}\u{E0063}\u{E0074}|\u{E0077}\u{E006C}\u{E0073})\u{E007F}/gu;
// What a joiner or selector may follow: a letter, mark, number, punctuation or symbol.
const BASE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;
// Visible on its own: a letter, number, punctuation or symbol that is not hidden
// (Hangul fillers are letters) and not one of the graphic characters drawn
// blank, which no Unicode property names (braille blank, musical null notehead).
const VISIBLE = /[\p{L}\p{N}\p{P}\p{S}]/u;
const BLANK = /[\u2800\u{1D159}]/u;

/**
 * Spaces around a username are dropped (a phone keyboard adds one after a
 * word, a paste brings them); no username has a space, so nothing else can
 * be meant.
 */
export function checkUsername(username: string): Checked {
  const value = username.trim();
  return USERNAME.test(value) ? { value } : { error: USERNAME_RULE };
}

/** Counted in code points, so one emoji is one character. */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const GRAPHEMES = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Characters as drawn (extended grapheme clusters): a flag, a family emoji or
 * a letter with its vowel signs is one. Never more than the code points.
 */
export function graphemes(text: string): number {
  let n = 0;
  for (const _ of GRAPHEMES.segment(text)) n++;
  return n;
}

/**
 * Passwords are NFC-normalised (the same password typed on two keyboards
 * hashes the same) and never trimmed: spaces are part of a password. A new
 * password must also be hard to guess, which is not checked here: the
 * estimator is slow work, admitted and run off the event loop like a hash
 * (Passwords.weakness, password-strength.ts).
 */
export function checkNewPassword(password: string): Checked {
  if (!password.isWellFormed()) return { error: 'password must be valid Unicode text' };
  const value = password.normalize('NFC');
  const length = codePoints(value);
  if (length < PASSWORD.minChars || length > PASSWORD.maxChars) return { error: PASSWORD_RULE };
  return { value };
}

/** For login: the form of a password that could be stored, without the minimum length. */
export function normalizePassword(password: string): Checked {
  if (!password.isWellFormed()) return { error: 'password must be valid Unicode text' };
  const value = password.normalize('NFC');
  return codePoints(value) <= PASSWORD.maxChars ? { value } : { error: PASSWORD_RULE };
}

export const NICKNAME_ERRORS = {
  controlOrDirection: 'nickname must not contain control or text-direction characters',
  hidden: 'nickname must not contain invisible characters (zero-width, fillers, tags)',
  invisible: 'nickname must contain a visible character',
  stacked: 'nickname must not put more than 8 marks on one character',
} as const;

/**
 * More combining marks on one character (as drawn) than any script writes on one
 * letter (Vietnamese two, pointed Hebrew with cantillation four or five, a Tibetan
 * stack six or seven): "Zalgo" text, drawn over the lines around it (an attack audit:
 * "a" with 200 acute accents was one character). Counted per character, not per run:
 * a joiner between runs of eight kept them one character (a review).
 */
const MAX_MARKS = 8;
const MARK = /\p{M}/gu;

function stackedMarks(text: string): boolean {
  // Only a text with more marks than that in all can have them on one character.
  if ((text.match(MARK)?.length ?? 0) <= MAX_MARKS) return false;
  for (const { segment } of GRAPHEMES.segment(text))
    if ((segment.match(MARK)?.length ?? 0) > MAX_MARKS) return true;
  return false;
}

/**
 * Nicknames: NFC, trimmed, 1 to 64 characters as drawn and at most 256 code
 * points (NICKNAME_RULE), something visible, no
 * control or text-direction characters, and no invisible characters except
 * a joiner between two characters, one variation selector after one, and
 * the written format characters where their script puts them (PREPENDED,
 * MONGOLIAN_VOWEL_SEPARATOR).
 */
export function checkNickname(nickname: string): Checked {
  if (!nickname.isWellFormed()) return { error: 'nickname must be valid Unicode text' };
  const value = nickname.normalize('NFC').trim();
  // Only spaces: not too short, but nothing to see.
  if (value === '' && nickname !== '') return { error: NICKNAME_ERRORS.invisible };
  const points = codePoints(value);
  // A character is at least one code point: only more than the bound needs segmenting.
  const length = points > NICKNAME.maxChars ? graphemes(value) : points;
  if (length < NICKNAME.minChars || length > NICKNAME.maxChars)
    return { error: nicknameLengthError(length) };
  if (points > NICKNAME.maxCodePoints) return { error: nicknameCodePointsError(points) };
  const control = CONTROL_OR_DIRECTION.exec(value);
  if (control !== null) return { error: naming(NICKNAME_ERRORS.controlOrDirection, control[0]) };
  if (stackedMarks(value)) return { error: NICKNAME_ERRORS.stacked };
  const seen = hiddenAndVisible(value.replace(TAG_FLAG, '\u{1F3F4}'));
  if (typeof seen === 'object') return { error: naming(NICKNAME_ERRORS.hidden, seen.hidden) };
  if (!seen) return { error: NICKNAME_ERRORS.invisible };
  return { value };
}

/** What people call the characters most often pasted unseen into a name. */
const CHARACTER_NAMES: Record<string, string> = {
  '\t': 'a tab',
  '\n': 'a line break',
  '\r': 'a line break',
  '\u0000': 'a NUL',
  '\u00AD': 'a soft hyphen',
  '\u061C': 'an Arabic letter mark',
  '\u200B': 'a zero-width space',
  '\u200C': 'a zero-width non-joiner',
  '\u200D': 'a zero-width joiner',
  '\u200E': 'a left-to-right mark',
  '\u200F': 'a right-to-left mark',
  '\u2028': 'a line separator',
  '\u2029': 'a paragraph separator',
  '\u202A': 'a left-to-right embedding',
  '\u202B': 'a right-to-left embedding',
  '\u202C': 'a pop directional formatting',
  '\u202D': 'a left-to-right override',
  '\u202E': 'a right-to-left override',
  '\u2060': 'a word joiner',
  '\u2066': 'a left-to-right isolate',
  '\u2067': 'a right-to-left isolate',
  '\u2068': 'a first strong isolate',
  '\u2069': 'a pop directional isolate',
  '\u3164': 'a Hangul filler',
  '\uFEFF': 'a byte order mark',
};

/**
 * The rule and the character that broke it, by code point and, for the usual
 * ones, by name: "must not contain control characters" alone left a person to
 * find a tab they cannot see in what they pasted (a browser audit).
 */
function naming(rule: string, char: string): string {
  const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const tag = /[\u{E0000}-\u{E007F}]/u.test(char) ? 'a tag character' : undefined;
  const name = CHARACTER_NAMES[char] ?? tag;
  return `${rule}: it has ${code}${name ? ` (${name})` : ''}`;
}

/**
 * The first invisible character out of its place (at the end, the last one),
 * else whether anything is visible.
 */
function hiddenAndVisible(text: string): boolean | { hidden: string } {
  let visible = false;
  // What came before: a character a joiner or selector may follow, either of those, a
  // mark that needs a digit next, a separator that needs a Mongolian letter next, or
  // anything else.
  let previous: 'base' | 'joiner' | 'selector' | 'prepended' | 'separator' | 'other' = 'other';
  let mongolian = false;
  /** The last invisible character let through, which what follows it may yet refuse. */
  let last = '';
  for (const char of text) {
    if (HIDDEN.test(char)) {
      if (SELECTOR.test(char) && previous === 'base') previous = 'selector';
      else if (JOINER.test(char) && (previous === 'base' || previous === 'selector'))
        previous = 'joiner';
      else if (PREPENDED.test(char) && previous !== 'prepended') previous = 'prepended';
      else if (char === MONGOLIAN_VOWEL_SEPARATOR && mongolian) previous = 'separator';
      else return { hidden: char };
      mongolian = false;
      last = char;
      continue;
    }
    const base = BASE.test(char);
    if (previous === 'joiner' && !base) return { hidden: last };
    if (previous === 'prepended' && !DIGIT.test(char)) return { hidden: last };
    mongolian = MONGOLIAN_LETTER.test(char);
    if (previous === 'separator' && !mongolian) return { hidden: last };
    previous = base ? 'base' : 'other';
    if (!visible && VISIBLE.test(char) && !BLANK.test(char)) visible = true;
  }
  return previous === 'joiner' || previous === 'prepended' || previous === 'separator'
    ? { hidden: last }
    : visible;
}
