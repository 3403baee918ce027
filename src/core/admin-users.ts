/**
 * The admin API's service: create, read, update, delete and list any
 * account, for the holder of ADMIN_TOKEN. Invariants:
 * - the token is checked before anything else (no validation message, no
 *   store read for a caller without it); with no token configured every call
 *   is NOT_FOUND with the HTTP server's own "no such route" message, so the
 *   API looks absent;
 * - every call that passes the token check writes exactly one audit line
 *   (admin-audit.ts), also when it fails;
 * - every write runs inside CachedUsers.writing(username): invalidated
 *   before, and after also when a later step fails, so no cached record
 *   outlives a change, even if this process stops between the two: a
 *   deleted user or a replaced password stops working at once;
 * - a new password is hashed (under the hashing semaphore) before anything
 *   is written, and ends every session of the user;
 * - listing is keyset pagination through the store (no OFFSET, no COUNT):
 *   pages are in id order, or in username order with a prefix, and a cursor
 *   carries the last key of its page (user-pages.ts, list-cursor.ts).
 */
import type { Deadline } from '../lib/deadline.ts';
import { Sampler } from '../lib/sampler.ts';
import type { Logger } from '../log.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import {
  ADMIN_ACTIONS,
  type AdminAction,
  type AdminCaller,
  type AuditAction,
  type AuditNote,
  writeAudit,
  writeDeniedCount,
} from './admin-audit.ts';
import type { AdminToken } from './admin-token.ts';
import type { CachedUsers } from './cached-users.ts';
import type { IdGenerator } from './ids.ts';
import { createAccount, valid } from './new-account.ts';
import type { Passwords } from './passwords.ts';
import { CHECK_AFTER_MS } from './picture-checks.ts';
import { type ListQuery, listOptions, nextCursor } from './user-pages.ts';
import { checkNewPassword, checkNickname, checkUsername } from './validation.ts';

export type { AdminCaller } from './admin-audit.ts';
export type { ListQuery } from './user-pages.ts';

export interface AdminUsersDeps {
  token: AdminToken;
  store: UserStore;
  users: CachedUsers;
  passwords: Passwords;
  ids: IdGenerator;
  /** Receives the audit lines. */
  log: Logger;
  now?: () => number;
  /**
   * Called after a user is deleted (and its cache entry invalidated), to
   * remove what it leaves outside the users table: its picture. Pictures are
   * named by content, so check store.isPictureUsed() before removing one.
   * A failure is logged; the deletion stands.
   */
  onUserDeleted?: (user: UserRow) => Promise<void> | void;
}

export interface UserChanges {
  nickname?: string | undefined;
  password?: string | undefined;
  /** Usernames are immutable: when sent, it must equal the current one. */
  username?: string | undefined;
  /**
   * Only false: turns two-step login off, for a user who lost both their
   * authenticator and their recovery codes. Turning it on is the user's own
   * act (it needs their authenticator). Their sessions stay: whoever asked
   * support for this still needs the password to log in again.
   */
  twoStep?: boolean | undefined;
}

export interface UserPage {
  users: UserRow[];
  /** '' when this is the last page. */
  nextCursor: string;
}

const DENIED_WINDOW_MS = 10_000;
const DENIED_BURST = 100;
/** The sampler's one key: every client's refusals count together. */
const DENIED = 'denied';

export class AdminUsers {
  private readonly now: () => number;
  /**
   * Which refusals of a wrong or missing token get an audit line: anyone can
   * send those as fast as the network allows, and a line each (about 250 B)
   * would bury the log. The first DENIED_BURST of each DENIED_WINDOW_MS, from
   * whichever addresses; the next line after them says how many were left out
   * (or, when none comes, a line at the end of the window). One count for all:
   * per address, a flood from 10,000 addresses filled the sampler's keys, and
   * another address's refusals then went unwritten and uncounted.
   */
  private readonly deniedLines: Sampler;
  /** Monotonic (a wall clock stepping back would keep a window shut); tests give their own. */
  private readonly deniedClock: () => number;

  constructor(private readonly deps: AdminUsersDeps) {
    this.now = deps.now ?? Date.now;
    this.deniedClock = deps.now ?? (() => performance.now());
    // The count of the last window of a flood, which no later refusal carries.
    this.deniedLines = new Sampler(DENIED_WINDOW_MS, DENIED_BURST, (_, deniedSinceLastLine) =>
      writeDeniedCount(deps.log, deniedSinceLastLine),
    );
  }

  get enabled(): boolean {
    return this.deps.token.enabled;
  }

  create(
    caller: AdminCaller,
    input: { username: string; password: string; nickname: string },
    deadline: Deadline,
  ): Promise<UserRow> {
    return this.audited(caller, 'create', {}, async (note) => {
      // The audit line names the user as soon as the name is valid.
      const name = checkUsername(input.username);
      if ('value' in name) note.username = name.value;
      const admission = { clientIp: caller.clientIp, known: false };
      const user = await createAccount(this.deps, input, deadline, this.now, admission);
      note.userId = user.id;
      return user;
    });
  }

  get(caller: AdminCaller, id: string): Promise<UserRow> {
    return this.audited(caller, 'get', { userId: id }, async (note) => {
      const user = (await this.deps.store.findById(id)) ?? notFound();
      note.username = user.username;
      return user;
    });
  }

  /**
   * Changes the nickname and/or the password, or turns two-step login off;
   * a new password ends every session of the user.
   */
  update(
    caller: AdminCaller,
    id: string,
    changes: UserChanges,
    deadline: Deadline,
  ): Promise<UserRow> {
    const fields = Object.entries(changes)
      .filter(([, value]) => value !== undefined)
      .map(([name]) => name);
    return this.audited(caller, 'update', { userId: id, fields }, async (note) => {
      const { store, users, passwords } = this.deps;
      const nickname =
        changes.nickname === undefined
          ? undefined
          : valid(checkNickname(changes.nickname), 'nickname');
      const current = (await store.findById(id)) ?? notFound();
      const password =
        changes.password === undefined
          ? undefined
          : valid(checkNewPassword(changes.password), 'password');
      note.username = current.username;
      if (changes.username !== undefined && changes.username !== current.username) {
        throw new RpcError(Status.INVALID_ARGUMENT, 'usernames cannot be changed', {
          field: 'username',
        });
      }
      if (changes.twoStep === true) {
        throw new RpcError(Status.INVALID_ARGUMENT, MESSAGES.TWO_STEP_ONLY_OFF, {
          field: 'two_step',
        });
      }
      const twoStepOff = changes.twoStep === false && current.totpSecret !== '';
      if (nickname === undefined && password === undefined && !twoStepOff) return current;
      // Estimate and hash first: a full queue must not leave half of the change written.
      const admission = { clientIp: caller.clientIp, known: false };
      if (password !== undefined) {
        const inputs = [current.username, nickname ?? current.nickname];
        const weakness = await passwords.weakness(password, inputs, deadline, admission);
        if (weakness !== null) throw invalidArgument(weakness, 'password');
      }
      const passwordHash =
        password === undefined ? undefined : await passwords.hash(password, deadline, admission);
      return users.writing(current.username, async () => {
        let user = current;
        if (nickname !== undefined) {
          user = (await store.updateNickname(id, nickname, this.now())) ?? notFound();
        }
        if (passwordHash !== undefined) {
          user = (await store.updatePassword(id, passwordHash, this.now(), true)) ?? notFound();
        }
        if (twoStepOff) user = (await store.disableTotp(id, this.now())) ?? notFound();
        return user;
      });
    });
  }

  /** Deletes the user; its sessions stop working at once (the lookup behind them finds nobody). */
  delete(caller: AdminCaller, id: string): Promise<UserRow> {
    return this.audited(caller, 'delete', { userId: id }, async (note) => {
      const { store, users, onUserDeleted, log } = this.deps;
      // The username first: the cache entry is invalidated before the delete too.
      const found = (await store.findById(id)) ?? notFound();
      note.username = found.username;
      // Its picture is checked again later, should this process stop before removing it.
      if (found.picture !== '')
        await store.addPictureChecks([found.picture], this.now() + CHECK_AFTER_MS);
      const user = (await users.writing(found.username, () => store.delete(id))) ?? notFound();
      if (user.picture !== '') note.picture = user.picture;
      if (onUserDeleted !== undefined) {
        try {
          await onUserDeleted(user);
        } catch (err) {
          log.warn({ err, userId: user.id }, 'clean-up after deleting a user failed');
        }
      }
      return user;
    });
  }

  list(caller: AdminCaller, query: ListQuery): Promise<UserPage> {
    return this.audited(caller, 'list', {}, async (note) => {
      const options = listOptions(query);
      if (options.usernamePrefix !== '') note.usernamePrefix = options.usernamePrefix;
      const users = await this.deps.store.list(options);
      note.count = users.length;
      return { users, nextCursor: nextCursor(options, users) };
    });
  }

  /**
   * For a request the HTTP server refused before calling (malformed input):
   * answers like the call would for a bad or missing token, and otherwise
   * records the refusal in the audit log.
   */
  check(caller: AdminCaller, action: string, userId: string, refusal: Status): void {
    // Both come from the wire: keep only what could be true.
    const known = ADMIN_ACTIONS.find((a) => a === action) ?? 'unknown';
    const note: AuditNote = { refusedBy: 'http' };
    if (/^[0-9]{1,20}$/.test(userId)) note.userId = userId;
    this.authorize(caller, known, note);
    const result =
      refusal === Status.OK || refusal === Status.UNSPECIFIED ? Status.INVALID_ARGUMENT : refusal;
    writeAudit(this.deps.log, caller, known, note, result);
  }

  /** Throws unless the caller holds the admin token; a refusal is audited, "off" is not. */
  private authorize(caller: AdminCaller, action: AuditAction, note: AuditNote): void {
    const verdict = this.deps.token.check(caller.token);
    if (verdict === 'off') throw new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_ROUTE);
    if (verdict === 'denied') {
      const leftOut = this.deniedLines.pass(DENIED, this.deniedClock());
      if (leftOut !== null) {
        const refused: AuditNote = { ...note, tokenRefused: true };
        const counted = leftOut > 0 ? { ...refused, deniedSinceLastLine: leftOut } : refused;
        writeAudit(this.deps.log, caller, action, counted, Status.UNAUTHENTICATED);
      }
      throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.NO_ADMIN_TOKEN);
    }
  }

  /** Checks the token, runs `work` and writes its audit line, whatever the outcome. */
  private async audited<T>(
    caller: AdminCaller,
    action: AdminAction,
    note: AuditNote,
    work: (note: AuditNote) => Promise<T>,
  ): Promise<T> {
    this.authorize(caller, action, note);
    try {
      const result = await work(note);
      writeAudit(this.deps.log, caller, action, note, Status.OK);
      return result;
    } catch (err) {
      writeAudit(this.deps.log, caller, action, note, RpcError.from(err).code);
      throw err;
    }
  }
}

function notFound(): never {
  throw new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_USER);
}
