/**
 * Creating an account, one way for sign-up and for the admin API: the fields
 * checked by the rules of validation.ts, then a row with a fresh id and an
 * argon2id hash, stored unless the username is taken (the unique index
 * decides races). Every field at fault is named at once, a taken username
 * among them, so that a form needs one correction, not one per field.
 */

import type { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { type FieldFault, invalidArgument, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { CachedUsers } from './cached-users.ts';
import type { IdGenerator } from './ids.ts';
import type { Admission, Passwords } from './passwords.ts';
import { type Checked, checkNewPassword, checkNickname, checkUsername } from './validation.ts';

export interface NewAccount {
  username: string;
  password: string;
  /** '' for the default: the username. */
  nickname: string;
}

export interface AccountCreation {
  store: UserStore;
  users: CachedUsers;
  passwords: Passwords;
  ids: IdGenerator;
  log: Logger;
}

/** Ids tried for one new account before its sign-up fails (each clash is another server's id). */
const ID_TRIES = 4;

/** The checked value, or INVALID_ARGUMENT naming the rule and the field. */
export function valid(checked: Checked, field: string): string {
  if ('error' in checked) throw invalidArgument(checked.error, field);
  return checked.value;
}

/**
 * The fields of a new account, normalised where they keep their rules, and
 * every rule broken, in the order of the sign-up form.
 */
function checkNewAccount(input: NewAccount): {
  account: NewAccount;
  faults: FieldFault[];
} {
  const faults: FieldFault[] = [];
  const checked = (result: Checked, field: string, raw: string): string => {
    if ('value' in result) return result.value;
    faults.push({ field, message: result.error });
    return raw;
  };
  const username = checked(checkUsername(input.username), 'username', input.username);
  const nickname =
    input.nickname === ''
      ? username
      : checked(checkNickname(input.nickname), 'nickname', input.nickname);
  const password = checked(
    checkNewPassword(input.password, [username, nickname]),
    'password',
    input.password,
  );
  // The form's order: username, password, nickname.
  faults.sort((a, b) => FORM_ORDER.indexOf(a.field) - FORM_ORDER.indexOf(b.field));
  return { account: { username, password, nickname }, faults };
}

const FORM_ORDER = ['username', 'password', 'nickname'];

/** INVALID_ARGUMENT naming every fault: the first as the error's field and message. */
function faultsError(faults: readonly FieldFault[]): RpcError {
  const [first, ...more] = faults as [FieldFault, ...FieldFault[]];
  return new RpcError(Status.INVALID_ARGUMENT, first.message, {
    field: first.field,
    moreFields: more,
  });
}

/**
 * Checks `input` and stores it, its slow hash queued as `admission`'s.
 * `admit` runs before anything is looked up: where sign-up applies its
 * limits, so that beyond them a taken name and a free one get the same
 * refusal (no free test of which exist). With other fields at fault the
 * answer is INVALID_ARGUMENT, and names a taken username too when the name
 * could be looked up (admitted, and the store reachable).
 */
export async function createAccount(
  { store, users, passwords, ids, log }: AccountCreation,
  input: NewAccount,
  deadline: Deadline,
  now: () => number,
  admission: Admission,
  admit?: () => Promise<void>,
): Promise<UserRow> {
  const { account, faults } = checkNewAccount(input);
  const { username, password, nickname } = account;
  if (faults.length > 0) {
    if (faults[0]?.field !== 'username' && (await takenAsWell(users, username, deadline, admit)))
      faults.unshift({ field: 'username', message: MESSAGES.USERNAME_TAKEN });
    throw faultsError(faults);
  }
  await admit?.();
  // Spare the slow hash when the name is visibly taken.
  if ((await users.find(username, deadline)) !== null) throw taken();
  const createdAt = now();
  const user: UserRow = {
    id: ids.next(),
    username,
    nickname,
    passwordHash: await passwords.hash(password, deadline, admission),
    picture: '',
    sessionsValidAfterMs: 0,
    createdAtMs: createdAt,
    updatedAtMs: createdAt,
    totpSecret: '',
    version: 0,
  };
  let created = await store.create(user);
  // Another TCP server made the same id: it has the same WORKER_ID. Each
  // clash takes a fresh id (this server's next), and the operator is told.
  for (let tries = 1; created === 'id_taken' && tries < ID_TRIES; tries++) {
    log.warn(
      { userId: user.id },
      'a new user id was taken already: another TCP server uses the same WORKER_ID; give each its own',
    );
    user.id = ids.next();
    created = await store.create(user);
  }
  await users.invalidate(username); // it may be cached as "no such user"
  if (created === 'username_taken') throw taken();
  if (created === 'id_taken') throw new Error(`${ID_TRIES} new user ids in a row were taken`);
  return user;
}

/**
 * Whether a valid `username` is taken, for an answer that refuses other
 * fields anyway: false when the lookup is not admitted or fails (the other
 * faults are the answer then; the name is checked again on the next try).
 */
async function takenAsWell(
  users: CachedUsers,
  username: string,
  deadline: Deadline,
  admit: (() => Promise<void>) | undefined,
): Promise<boolean> {
  try {
    await admit?.();
    return (await users.find(username, deadline)) !== null;
  } catch (err) {
    if (err instanceof RpcError && err.code !== Status.INTERNAL) return false;
    throw err;
  }
}

function taken(): RpcError {
  return new RpcError(Status.ALREADY_EXISTS, MESSAGES.USERNAME_TAKEN, {
    field: 'username',
  });
}
