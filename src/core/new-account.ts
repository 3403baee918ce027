/**
 * Creating an account, one way for sign-up and for the admin API: the fields
 * checked by the rules of validation.ts, then a row with a fresh id and an
 * argon2id hash, stored unless the username is taken (the unique index
 * decides races).
 */

import type { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument, RpcError } from '../wire/rpc-error.ts';
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

/** The fields of a new account, checked and normalised. */
export function newAccount(input: NewAccount): NewAccount {
  const username = valid(checkUsername(input.username), 'username');
  const nickname =
    input.nickname === '' ? username : valid(checkNickname(input.nickname), 'nickname');
  const password = valid(checkNewPassword(input.password, [username, nickname]), 'password');
  return { username, password, nickname };
}

/**
 * Stores `account` (checked by newAccount), its slow hash queued as
 * `admission`'s. `admit` runs before anything is looked up: where sign-up
 * applies its limits, so that beyond them a taken name and a free one get
 * the same refusal (no free test of which exist).
 */
export async function createAccount(
  { store, users, passwords, ids, log }: AccountCreation,
  account: NewAccount,
  deadline: Deadline,
  now: () => number,
  admission: Admission,
  admit?: () => Promise<void>,
): Promise<UserRow> {
  const { username, password, nickname } = account;
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

function taken(): RpcError {
  return new RpcError(Status.ALREADY_EXISTS, MESSAGES.USERNAME_TAKEN, {
    field: 'username',
  });
}
