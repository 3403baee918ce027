/**
 * How hard a new password is to guess, by zxcvbn-ts with its common-password
 * and English dictionaries. The estimator is built once per process, on the
 * first check (its dictionaries take a few hundred milliseconds to load), and
 * runs only where a password is chosen: sign-up and password changes, never
 * login. It runs on a thread of its own (hash-worker.ts, through
 * Passwords.weakness), never on an event loop: a crafted password of 32
 * characters takes it 50 to 300 ms.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';
import { PASSWORD_STRENGTH, PASSWORD_STRENGTH_RULE } from '../wire/account-rules.ts';

let factory: ZxcvbnFactory | undefined;

function estimator(): ZxcvbnFactory {
  factory ??= new ZxcvbnFactory({
    translations: english.translations,
    graphs: common.adjacencyGraphs,
    dictionary: { ...common.dictionary, ...english.dictionary },
    maxLength: PASSWORD_STRENGTH.estimatedUnits,
  });
  return factory;
}

/**
 * null when `password` scores at least the minimum; else the rule with the
 * estimator's warning and suggestions, as one sentence or two, or, when the
 * estimator found no pattern, that it is too short. `userInputs`
 * (username, nickname) count as known words, so a password made of them
 * scores low. The first call loads the dictionaries.
 */
export function passwordStrengthError(
  password: string,
  userInputs: readonly string[],
): string | null {
  const inputs = userInputs.filter((input) => input !== '');
  const { score, feedback } = estimator().check(password, inputs);
  if (score >= PASSWORD_STRENGTH.minScore) return null;
  // No pattern found: what makes it weak is its length alone, and the rule's list of
  // patterns would name none that applies (a short random password, an operator audit).
  if (!feedback.warning) return SHORT_AND_RANDOM;
  const advice = [feedback.warning, ...feedback.suggestions].filter(Boolean).join(' ');
  return `${PASSWORD_STRENGTH_RULE}. ${advice}`;
}

const SHORT_AND_RANDOM =
  'password must be hard to guess: one this short is found by trying every combination. ' +
  'Make it longer: a few unrelated words work well.';
