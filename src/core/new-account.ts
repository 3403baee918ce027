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
 * every rule broken that costs nothing to check (the password's strength is
 * estimated later, as slow work).
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
  const password = checked(checkNewPassword(input.password), 'password', input.password);
  return { account: { username, password, nickname }, faults };
}

const FORM_ORDER = ['username', 'password', 'nickname'];

/** INVALID_ARGUMENT naming every fault, in the form's order: the first as the error's field and message. */
function faultsError(faults: FieldFault[]): RpcError {
  faults.sort((a, b) => FORM_ORDER.indexOf(a.field) - FORM_ORDER.indexOf(b.field));
  const [first, ...more] = faults as [FieldFault, ...FieldFault[]];
  return new RpcError(Status.INVALID_ARGUMENT, first.message, {
    field: first.field,
    moreFields: more,
  });
}

/**
 * Checks `input` and stores it, its strength estimate and slow hash queued
 * as `admission`'s. `admit` runs after the cheap rules and before anything
 * slow or looked up: where sign-up applies its limits, so that beyond them a
 * taken name and a free one get the same refusal (no free test of which
 * exist), and no password is estimated (a crafted one keeps the estimator
 * 50 to 300 ms). With fields at fault the answer is INVALID_ARGUMENT naming
 * them all, a taken username and a weak password among them when they could
 * be told (admitted, the store reachable, the queue not full); a taken name
 * alone is ALREADY_EXISTS.
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
  const faulty = (field: string) => faults.some((fault) => fault.field === field);
  // With faults found already, a refusal of what follows (over the limits, the queue
  // full, the store down) leaves them the answer; without, it is the answer.
  async function unlessFaulty<T>(work: () => Promise<T>, otherwise: T): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (faults.length > 0 && err instanceof RpcError && err.code !== Status.INTERNAL)
        return otherwise;
      throw err;
    }
  }
  // Nothing slow or looked up follows when both are at fault: nothing to admit or charge.
  if (faulty('username') && faulty('password')) throw faultsError(faults);
  const admitted = await unlessFaulty(async () => {
    await admit?.();
    return true;
  }, false);
  if (!admitted) throw faultsError(faults);
  // Both settle before either answers: the store refusing the lookup (503) is the answer
  // over an estimate refused as busy (429), and no estimate is left running for a sign-up
  // answered already. During a MariaDB outage each sign-up left one, and a queue full of
  // them answered the next sign-ups 429 "too many sign-ins at once" (a failure audit).
  const [estimated, looked] = await Promise.allSettled([
    faulty('password')
      ? null
      : unlessFaulty(
          () => passwords.weakness(password, [username, nickname], deadline, admission),
          null,
        ),
    // Spares the slow hash when the name is visibly taken.
    faulty('username')
      ? false
      : unlessFaulty(async () => (await users.find(username, deadline)) !== null, false),
  ]);
  if (looked.status === 'rejected') throw looked.reason;
  if (estimated.status === 'rejected') throw estimated.reason;
  const [weakness, isTaken] = [estimated.value, looked.value];
  if (weakness !== null) faults.push({ field: 'password', message: weakness });
  if (isTaken && faults.length === 0) throw taken();
  if (isTaken) faults.push({ field: 'username', message: MESSAGES.USERNAME_TAKEN });
  if (faults.length > 0) throw faultsError(faults);
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

function taken(): RpcError {
  return new RpcError(Status.ALREADY_EXISTS, MESSAGES.USERNAME_TAKEN, {
    field: 'username',
  });
}
