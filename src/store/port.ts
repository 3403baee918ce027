/**
 * The UserStore port: everything the services need from durable storage.
 * Adapters: MySQL (src/store/mysql, mysql2) and SQLite (src/store/sqlite,
 * bun:sqlite). Both pass the same contract suite (test/store/contract.ts).
 *
 * Conventions for every adapter:
 * - ids are 64-bit integers carried as decimal strings;
 * - timestamps are milliseconds since the epoch;
 * - usernames are unique case-insensitively and found case-insensitively;
 *   the stored spelling is the one given at creation;
 * - expected outcomes are values (null, 'username_taken'); a storage outage
 *   (connection refused, timeout, pool saturated) throws an RpcError with
 *   status UNAVAILABLE; anything else thrown is a bug.
 */

/** A user row as stored. */
export interface UserRow {
  id: string;
  username: string;
  nickname: string;
  /** argon2id PHC string. */
  passwordHash: string;
  /** Picture name, '' when none. */
  picture: string;
  /** Sessions issued at or before this instant are no longer valid. */
  sessionsValidAfterMs: number;
  createdAtMs: number;
  updatedAtMs: number;
  /**
   * The two-step login secret, sealed (core/totp-keys.ts); '' when the user
   * has no second step. Carried with the row (and its cache entry) so that a
   * login knows whether to ask for a code without another read.
   */
  totpSecret: string;
  /**
   * Raised by one by every write of any column above (0 for a new user): the
   * same id and version mean the same row. Cache entries carry it, and only a
   * newer version replaces an entry (core/cached-users.ts).
   */
  version: number;
}

export interface ListOptions {
  /** 1..500. */
  limit: number;
  /** When set, only usernames starting with it (case-insensitively), in username order. */
  usernamePrefix: string;
  /** Without a prefix: rows with an id greater than this (numeric order), in id order. */
  afterId: string | null;
  /** With a prefix: rows with a username greater than this (case-insensitively), in username order. */
  afterUsername: string | null;
}

export interface RevokedSession {
  sessionId: string;
  expiresAtMs: number;
}

/**
 * A cache write Redis did not take: a revoked session its mirror lacks
 * (`item` the session id), or a user whose cached row may be stale (`item`
 * the lowercase username). Kept until a write succeeds or `expiresAtMs`,
 * after which the cache cannot hold the stale answer any more.
 */
export interface CacheRepair {
  kind: 'session' | 'user';
  item: string;
  expiresAtMs: number;
}

/** A picture name to check again from `dueAtMs` on: does any user still name it? */
export interface PictureCheck {
  name: string;
  dueAtMs: number;
}

/**
 * A page of the revoked sessions: session ids from `from` (included) up to
 * `before` (excluded; null: no end), in the store's binary order of session
 * ids, at most `limit` (1..10,000) of them.
 */
export interface RevokedRange {
  from: string;
  before: string | null;
  limit: number;
}

/** A session in its user's list of sessions ("Where you're logged in"). */
export interface ListedSession {
  sessionId: string;
  userId: string;
  createdAtMs: number;
  /** Of the session's latest token: renewals raise it. */
  expiresAtMs: number;
  persistent: boolean;
  /** The client address at login: printable ASCII, at most 64 characters. */
  address: string;
  /** The User-Agent at login: printable ASCII, at most 256 characters. */
  userAgent: string;
}

export interface UserStore {
  findByUsername(username: string): Promise<UserRow | null>;
  findById(id: string): Promise<UserRow | null>;
  /**
   * Inserts a new user. 'id_taken' when a row has its id already: two TCP
   * servers share a WORKER_ID, and the caller tries again with another id.
   */
  create(user: UserRow): Promise<'created' | 'username_taken' | 'id_taken'>;
  /**
   * Each update returns the row as it is after the change, or null when there
   * is no such user. `seen`: the user's row as the caller last saw it. While the stored row
   * still has its version, an adapter may change the row in one statement
   * guarded by that version and answer `seen` plus the change without
   * reading the row back; otherwise it updates and reads back (last writer wins).
   */
  updateNickname(
    id: string,
    nickname: string,
    nowMs: number,
    seen?: UserRow,
  ): Promise<UserRow | null>;
  /** Also returns the picture that was replaced ('' when none). */
  updatePicture(
    id: string,
    picture: string,
    nowMs: number,
  ): Promise<{ user: UserRow; previous: string } | null>;
  /**
   * Sets a new password hash; with `endSessions`, also ends every session
   * issued until now: sessions_valid_after becomes `nowMs`, and always moves
   * (one past its value when that is not before `nowMs`: another server's
   * clock ran ahead), since a session lives only while it has the value it
   * was earned with. With `ifValidAfterMs`, only while sessions_valid_after
   * is still that value: a change checked against a row that has moved on since
   * (another change, "log out everywhere") must not land over it; null then, as
   * when no row matched.
   */
  updatePassword(
    id: string,
    passwordHash: string,
    nowMs: number,
    endSessions: boolean,
    ifValidAfterMs?: number,
  ): Promise<UserRow | null>;
  /**
   * Replaces the hash only if it is still `expected` (a re-hash after login
   * must never overwrite a password changed meanwhile). True when replaced.
   */
  replacePasswordHash(id: string, expected: string, passwordHash: string): Promise<boolean>;
  /** Raises sessions_valid_after to `validAfterMs`, or one past its value when that is not before it: it always moves, never down. */
  endSessions(id: string, validAfterMs: number): Promise<UserRow | null>;
  /** Deletes the user and returns the row as it was. */
  delete(id: string): Promise<UserRow | null>;
  list(options: ListOptions): Promise<UserRow[]>;
  /** True when some user's picture is this name. */
  isPictureUsed(picture: string): Promise<boolean>;

  /*
   * Two-step login. Each is one single-row statement, compare-and-set where a
   * race matters, so concurrent calls (on any server) cannot both succeed.
   */
  /** The sealed secret being set up, '' when none (or no such user). */
  totpPending(id: string): Promise<string>;
  /** Keeps a new secret being set up, unless two-step login is on. False when it is (or no user). */
  setTotpPending(id: string, sealed: string): Promise<boolean>;
  /**
   * Turns two-step login on with `secret` (the secret being set up, sealed
   * for use), provided `pending` is still the one being set up and it is off:
   * the step of the confirming code becomes the last used one, and the
   * recovery codes' hashes are kept. Null when either changed.
   */
  enableTotp(
    id: string,
    pending: string,
    secret: string,
    step: number,
    recoveryHashes: readonly string[],
    nowMs: number,
  ): Promise<UserRow | null>;
  /**
   * Accepts the code of `step` for the secret `sealed`: true, and `step`
   * becomes the last used one, only if the user still has that secret and
   * every step used before is earlier. `resealed` replaces the stored secret
   * in the same write (the same secret under the newest key).
   */
  useTotpStep(id: string, sealed: string, step: number, resealed: string): Promise<boolean>;
  /** Removes one unused recovery code by its hash: true only for the caller that removed it. */
  useRecoveryCode(id: string, hash: string): Promise<boolean>;
  /** How many recovery codes are left unused (0 when two-step login is off). */
  recoveryCodesLeft(id: string): Promise<number>;
  /** Turns two-step login off: secret, pending secret, last step and recovery codes go. */
  disableTotp(id: string, nowMs: number): Promise<UserRow | null>;

  /** Puts a session on the revoked list until it would have expired anyway. Idempotent. */
  revokeSession(sessionId: string, userId: string, expiresAtMs: number): Promise<void>;
  isSessionRevoked(sessionId: string, nowMs: number): Promise<boolean>;
  /**
   * The revoked sessions of `range` that have not expired yet, in session id
   * order: a reload of the mirror reads them a page at a time, so that its
   * memory does not grow with the revocations (bench/RESULTS.md).
   */
  listRevokedSessions(nowMs: number, range: RevokedRange): Promise<RevokedSession[]>;
  /** Forgets revoked sessions that have expired; returns how many. */
  purgeExpiredRevocations(nowMs: number): Promise<number>;

  /**
   * Keeps a cache write Redis did not take (core/cache-repairs.ts); one
   * already kept for the same item keeps the later expiry.
   */
  addCacheRepair(repair: CacheRepair): Promise<void>;
  /**
   * Unexpired repairs, at most `limit`, in (kind, item) order, those after `after`
   * when given (the last of the page before); expired ones are deleted.
   */
  listCacheRepairs(nowMs: number, limit: number, after?: CacheRepair): Promise<CacheRepair[]>;
  /** Deletes each repair that is still as listed (a later expiry means a newer failure). */
  removeCacheRepairs(repairs: readonly CacheRepair[]): Promise<void>;

  /**
   * Lists picture names to check again from `dueAtMs` on (core/picture-checks.ts);
   * a name already listed keeps the later time.
   */
  addPictureChecks(names: readonly string[], dueAtMs: number): Promise<void>;
  /** Checks due by `nowMs`, earliest first, at most `limit`. */
  duePictureChecks(nowMs: number, limit: number): Promise<PictureCheck[]>;
  /** Deletes each check that is still as listed (a later time means a newer change). */
  removePictureChecks(checks: readonly PictureCheck[]): Promise<void>;

  /**
   * Adds sessions to their users' lists; a session already listed (same
   * user, start and id) keeps its entry and takes the later of the two
   * expiries (a renewal).
   */
  saveSessions(sessions: readonly ListedSession[]): Promise<void>;
  /** The user's listed sessions unexpired at `nowMs`, newest first, at most `limit` (1..500). */
  listSessions(userId: string, nowMs: number, limit: number): Promise<ListedSession[]>;
  /** Takes sessions of the user off the list. */
  deleteSessions(userId: string, sessionIds: readonly string[]): Promise<void>;
  /** Takes off the user's list every session begun at or before `createdUpToMs`. */
  deleteUserSessions(userId: string, createdUpToMs: number): Promise<void>;
  /**
   * Keeps each user's `keep` newest sessions listed (and any begun in the
   * same millisecond as the last); drops the rest. Several users at once:
   * the list of sessions trims every user due after a batch together.
   */
  trimSessions(userIds: readonly string[], keep: number): Promise<void>;
  /**
   * Forgets listed sessions that have expired, and those of users who no longer exist
   * (a login in flight at an account's deletion, on another server or before a crash,
   * can list one after the deletion took the others off); returns how many.
   */
  purgeExpiredSessions(nowMs: number): Promise<number>;

  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
