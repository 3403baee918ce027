/**
 * UserStore on MySQL 5.7 / 8.x / MariaDB 10.6+ through a mysql2 pool.
 *
 * Invariants:
 * - every statement goes through the executor (bounded concurrency, bounded
 *   wait, per-statement timeout, broken connections destroyed) and every
 *   value is a bound parameter; integers are typed (rows.ts);
 * - the hot reads are one prepared statement, so one round trip on a warm
 *   connection: findById one per read, findByUsername one per turn for all
 *   the usernames looked up in it (lookup-batch.ts);
 * - a write that must also return the row runs UPDATE then SELECT by primary
 *   key on the same connection, under one permit: the row returned is at
 *   least as new as the write;
 * - strings no row can hold are answered without a query (keys.ts), so
 *   user input never meets an ASCII column it cannot be compared with;
 * - every write of a column a UserRow carries raises `version` by one
 *   (sql/mysql/006_users_version.sql): the guard of the one-statement
 *   nickname update and the order of cache entries rest on it;
 * - only the admin listing reads replicas (`tolerant`): every other read
 *   decides access (password hash, sessions_valid_after, revocations), comes
 *   before a write, or fills the cache that later logins trust, and reads the
 *   primary (docs/DESIGN.md, Data).
 */
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import {
  checkLimit,
  checkRevokedRange,
  isPasswordHashKey,
  isPictureKey,
  isRecoveryHashKey,
  isSealedSecretKey,
  isSessionIdKey,
  isUsernameKey,
  likePrefix,
  parseId,
  repairKindCode,
  requireId,
} from '../keys.ts';
import type {
  CacheRepair,
  ListedSession,
  ListOptions,
  PictureCheck,
  RevokedRange,
  RevokedSession,
  UserRow,
  UserStore,
} from '../port.ts';
import {
  recoveryColumn,
  recoveryCount,
  recoveryEntry,
  SESSION_COLUMNS,
  type StoredSession,
  storedRepairs,
  toListedSession,
} from '../rows.ts';
import { isDuplicateKey } from './errors.ts';
import type { MysqlExecutor, Session } from './executor.ts';
import { LookupBatcher } from './lookup-batch.ts';
import { NicknameBatcher, type NicknameUpdate } from './nickname-batch.ts';
import type { ReplicaSet } from './replicas.ts';
import {
  firstUser,
  idParam,
  limitParam,
  type MysqlRevoked,
  type MysqlUser,
  msParam,
  revokedPageSql,
  stepParam,
  toRevokedSession,
  toUserRow,
  USER_COLUMNS,
  versionParam,
} from './rows.ts';

const SELECT_BY_ID = `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`;

/** Users by username, many per statement; keys lower-cased as ascii_general_ci folds them. */
const BY_USERNAME = {
  statement: (size: number) =>
    size === 1
      ? `SELECT ${USER_COLUMNS} FROM users WHERE username = ?`
      : `SELECT ${USER_COLUMNS} FROM users WHERE username IN (${Array(size).fill('?').join(', ')})`,
  keyOf: (row: MysqlUser) => row.username.toLowerCase(),
};
const USER_VALUES = USER_COLUMNS.split(',')
  .map(() => '?')
  .join(', ');

/**
 * The purge's DELETE of listed sessions from a user id on (parameters: now, the id):
 * the expired ones and those of users who are gone. Joined, not `NOT EXISTS`: MariaDB
 * looks a user up once for a run of its rows; per row the statement took about 0.7 µs
 * against 0.45 without the users, where `NOT EXISTS` took 2.2 (bench/RESULTS.md, "The
 * purge of listed sessions").
 */
const PURGE_FROM =
  'DELETE s FROM user_sessions s LEFT JOIN users u ON u.id = s.user_id ' +
  'WHERE (s.expires_at <= ? OR u.id IS NULL) AND s.user_id >= ?';
/** The same, up to a user id too. */
const PURGE_RANGE = `${PURGE_FROM} AND s.user_id <= ?`;
/** Rows deleted per statement by the purge: keeps each transaction and its locks small. */
const PURGE_BATCH = 1000;

/**
 * Rows per INSERT of listed sessions, largest first. A batch is cut into
 * statements of these sizes, so each connection prepares at most these few
 * statements, whatever the batch sizes. A full batch (session-list.ts'
 * flushAt) is one statement: this process's CPU per row about 4.6 us, against
 * 5.7-8.8 in 64-row statements (bench/RESULTS.md).
 */
const SESSION_CHUNKS = [256, 64, 16, 4, 1] as const;
/** Statements of one batch of sessions under way at once. */
const SAVE_STATEMENTS = 4;
/** Users per trim: a few sizes, so a few prepared statements per connection. */
const TRIM_CHUNKS = [64, 16, 4, 1];

/** Deletes the sessions of `size` users begun before each one's cut-off (user id, cut-off; in turn). */
function trimStatement(size: number): string {
  return `DELETE FROM user_sessions WHERE ${Array(size).fill('(user_id = ? AND created_at < ?)').join(' OR ')}`;
}

interface CutOffRow extends RowDataPacket {
  user_id: string;
  cut_off: string | null;
}

/**
 * The start of each of `size` users' `keep`-th newest session (the OFFSET,
 * the first parameter; then the user ids), NULL for a user with fewer.
 */
function cutOffStatement(size: number): string {
  return (
    'SELECT u.user_id, (SELECT c.created_at FROM user_sessions AS c WHERE c.user_id = u.user_id ' +
    'ORDER BY c.created_at DESC LIMIT 1 OFFSET ?) AS cut_off FROM (' +
    Array(size).fill('SELECT ? AS user_id').join(' UNION ALL ') +
    ') AS u'
  );
}

const CUT_OFF_STATEMENTS = new Map(TRIM_CHUNKS.map((size) => [size, cutOffStatement(size)]));
const TRIM_STATEMENTS = new Map(TRIM_CHUNKS.map((size) => [size, trimStatement(size)]));

/** `items` in consecutive slices of the sizes given, largest first (the last size must be 1). */
function* inChunks<T>(items: readonly T[], sizes: readonly number[]): Generator<T[]> {
  let at = 0;
  for (const size of sizes)
    for (; items.length - at >= size; at += size) yield items.slice(at, at + size);
}
const SESSION_ROW = '(?, ?, ?, ?, ?, ?, ?)';

interface MysqlSession extends RowDataPacket, StoredSession {}
interface EdgeRow extends RowDataPacket {
  edge: string;
}

/** updatePicture retries its compare-and-set this often when raced, then gives up. */
const PICTURE_ATTEMPTS = 3;

async function selectById(session: Session, id: bigint): Promise<UserRow | null> {
  return firstUser(await session.rows<MysqlUser>(SELECT_BY_ID, [idParam(id)]));
}

/** Cache repairs, or picture checks, deleted by one statement. */
const ROWS_PER_DELETE = 200;

/** A cache_repairs row as mysql2 returns it (expires_at cast to text). */
interface MysqlRepair extends RowDataPacket {
  kind: number;
  item: string;
  expires_at: string;
}

export class MysqlStore implements UserStore {
  /** Where reads that tolerate lag go: the replicas when there are any, else the primary. */
  private readonly tolerant: Pick<MysqlExecutor, 'rows'>;
  private readonly nicknames: NicknameBatcher;
  private readonly byUsername: LookupBatcher<MysqlUser>;

  constructor(
    readonly db: MysqlExecutor,
    readonly replicas: ReplicaSet | null = null,
  ) {
    this.tolerant = replicas ?? db;
    this.nicknames = new NicknameBatcher(db, (update) => this.setNickname(update));
    this.byUsername = new LookupBatcher(db, BY_USERNAME);
  }

  async findByUsername(username: string): Promise<UserRow | null> {
    if (!isUsernameKey(username)) return null;
    const row = await this.byUsername.find(username.toLowerCase());
    return row === null ? null : toUserRow(row);
  }

  async findById(id: string): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return firstUser(await this.db.rows<MysqlUser>(SELECT_BY_ID, [idParam(key)]));
  }

  async create(user: UserRow): Promise<'created' | 'username_taken' | 'id_taken'> {
    const id = requireId(user.id);
    try {
      await this.db.exec(`INSERT INTO users (${USER_COLUMNS}) VALUES (${USER_VALUES})`, [
        idParam(id),
        user.username,
        user.nickname,
        user.passwordHash,
        user.picture,
        msParam(user.sessionsValidAfterMs),
        msParam(user.createdAtMs),
        msParam(user.updatedAtMs),
        user.totpSecret,
        versionParam(user.version),
      ]);
      return 'created';
    } catch (error) {
      if (isDuplicateKey(error, 'users_username_uq')) return 'username_taken';
      if (isDuplicateKey(error, 'PRIMARY')) return 'id_taken';
      throw error;
    }
  }

  /** UPDATE by primary key, then the fresh row; null when no row matched. */
  private updateThenSelect(
    id: bigint,
    sql: string,
    params: ExecuteValues[],
  ): Promise<UserRow | null> {
    return this.db.run(async (session) => {
      // affectedRows counts matched rows (mysql2 sets CLIENT_FOUND_ROWS).
      const { affectedRows } = await session.exec(sql, params);
      return affectedRows === 0 ? null : selectById(session, id);
    });
  }

  async updateNickname(
    id: string,
    nickname: string,
    nowMs: number,
    seen?: UserRow,
  ): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    // Guarded by the version seen, with other users' updates in one
    // statement: no read back while the row is still the one seen.
    if (seen?.id === id) return this.nicknames.update({ key, nickname, nowMs, seen });
    return this.setNickname({ key, nickname, nowMs });
  }

  /** The nickname update unguarded, read back: last writer wins. */
  private setNickname(update: Omit<NicknameUpdate, 'seen'>): Promise<UserRow | null> {
    return this.updateThenSelect(
      update.key,
      'UPDATE users SET nickname = ?, updated_at = ?, version = version + 1 WHERE id = ?',
      [update.nickname, msParam(update.nowMs), idParam(update.key)],
    );
  }

  async updatePicture(
    id: string,
    picture: string,
    nowMs: number,
  ): Promise<{ user: UserRow; previous: string } | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.db.run(async (session) => {
      // Compare-and-set on the old picture, so that `previous` is exactly the
      // value this write replaced even when two uploads race (the caller
      // deletes `previous` once unused; a wrong one would leak or lose a file).
      for (let attempt = 0; attempt < PICTURE_ATTEMPTS; attempt++) {
        const [before] = await session.rows<RowDataPacket>(
          'SELECT picture FROM users WHERE id = ?',
          [idParam(key)],
        );
        if (before === undefined) return null;
        const previous = String(before.picture);
        const { affectedRows } = await session.exec(
          'UPDATE users SET picture = ?, updated_at = ?, version = version + 1 ' +
            'WHERE id = ? AND picture = ?',
          [picture, msParam(nowMs), idParam(key), previous],
        );
        if (affectedRows === 1) {
          const user = await selectById(session, key);
          return user === null ? null : { user, previous };
        }
      }
      throw new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_BUSY, { retryAfterS: 1 });
    });
  }

  async updatePassword(
    id: string,
    passwordHash: string,
    nowMs: number,
    endSessions: boolean,
    ifValidAfterMs?: number,
  ): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    const sessions = endSessions
      ? ', sessions_valid_after = GREATEST(sessions_valid_after + 1, ?)'
      : '';
    const guarded = ifValidAfterMs !== undefined;
    const params = [passwordHash, msParam(nowMs), ...(endSessions ? [msParam(nowMs)] : [])];
    return this.updateThenSelect(
      key,
      `UPDATE users SET password_hash = ?, updated_at = ?${sessions}, version = version + 1 ` +
        `WHERE id = ?${guarded ? ' AND sessions_valid_after = ?' : ''}`,
      [...params, idParam(key), ...(guarded ? [msParam(ifValidAfterMs)] : [])],
    );
  }

  async replacePasswordHash(id: string, expected: string, passwordHash: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isPasswordHashKey(expected)) return false;
    const { affectedRows } = await this.db.exec(
      'UPDATE users SET password_hash = ?, version = version + 1 ' +
        'WHERE id = ? AND password_hash = ?',
      [passwordHash, idParam(key), expected],
    );
    return affectedRows === 1;
  }

  async endSessions(id: string, validAfterMs: number): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.updateThenSelect(
      key,
      'UPDATE users SET sessions_valid_after = GREATEST(sessions_valid_after + 1, ?), ' +
        'version = version + 1 WHERE id = ?',
      [msParam(validAfterMs), idParam(key)],
    );
  }

  async delete(id: string): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.db.run(async (session) => {
      const row = await selectById(session, key);
      if (row === null) return null;
      const { affectedRows } = await session.exec('DELETE FROM users WHERE id = ?', [idParam(key)]);
      // Zero: someone else deleted it in between, and their call reports it.
      return affectedRows === 1 ? row : null;
    });
  }

  async list(options: ListOptions): Promise<UserRow[]> {
    const limit = limitParam(checkLimit(options.limit));
    // On a replica when there is one: a page may be up to the replica lag bound old.
    let rows: MysqlUser[];
    if (options.usernamePrefix === '') {
      // Keyset pagination on the primary key: no OFFSET, no COUNT.
      if (options.afterId === null) {
        rows = await this.tolerant.rows(`SELECT ${USER_COLUMNS} FROM users ORDER BY id LIMIT ?`, [
          limit,
        ]);
      } else {
        const after = parseId(options.afterId);
        if (after === null) return [];
        rows = await this.tolerant.rows(
          `SELECT ${USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?`,
          [idParam(after), limit],
        );
      }
    } else {
      // A range scan of users_username_uq: the pattern has no leading
      // wildcard, and ascii_general_ci makes both LIKE and > case-insensitive.
      if (!isUsernameKey(options.usernamePrefix)) return [];
      const pattern = likePrefix(options.usernamePrefix);
      if (options.afterUsername === null) {
        rows = await this.tolerant.rows(
          `SELECT ${USER_COLUMNS} FROM users WHERE username LIKE ? ESCAPE '!' ` +
            'ORDER BY username LIMIT ?',
          [pattern, limit],
        );
      } else {
        if (!isUsernameKey(options.afterUsername)) return [];
        rows = await this.tolerant.rows(
          `SELECT ${USER_COLUMNS} FROM users WHERE username LIKE ? ESCAPE '!' AND username > ? ` +
            'ORDER BY username LIMIT ?',
          [pattern, options.afterUsername, limit],
        );
      }
    }
    return rows.map(toUserRow);
  }

  async isPictureUsed(picture: string): Promise<boolean> {
    if (!isPictureKey(picture)) return false;
    const rows = await this.db.rows('SELECT 1 FROM users WHERE picture = ? LIMIT 1', [picture]);
    return rows.length > 0;
  }

  async totpPending(id: string): Promise<string> {
    const key = parseId(id);
    if (key === null) return '';
    const [row] = await this.db.rows<RowDataPacket>('SELECT totp_pending FROM users WHERE id = ?', [
      idParam(key),
    ]);
    return row === undefined ? '' : String(row.totp_pending);
  }

  async setTotpPending(id: string, sealed: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isSealedSecretKey(sealed)) return false;
    const { affectedRows } = await this.db.exec(
      "UPDATE users SET totp_pending = ? WHERE id = ? AND totp_secret = ''",
      [sealed, idParam(key)],
    );
    return affectedRows === 1;
  }

  async enableTotp(
    id: string,
    pending: string,
    secret: string,
    step: number,
    recoveryHashes: readonly string[],
    nowMs: number,
  ): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null || !isSealedSecretKey(pending) || !isSealedSecretKey(secret)) return null;
    if (!recoveryHashes.every(isRecoveryHashKey)) return null;
    return this.updateThenSelect(
      key,
      "UPDATE users SET totp_secret = ?, totp_pending = '', totp_last_step = ?, " +
        'totp_recovery = ?, updated_at = ?, version = version + 1 ' +
        "WHERE id = ? AND totp_pending = ? AND totp_secret = ''",
      [
        secret,
        stepParam(step),
        recoveryColumn(recoveryHashes),
        msParam(nowMs),
        idParam(key),
        pending,
      ],
    );
  }

  async useTotpStep(id: string, sealed: string, step: number, resealed: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isSealedSecretKey(sealed) || !isSealedSecretKey(resealed)) return false;
    const { affectedRows } = await this.db.exec(
      'UPDATE users SET totp_last_step = ?, totp_secret = ?, version = version + 1 ' +
        'WHERE id = ? AND totp_secret = ? AND totp_last_step < ?',
      [stepParam(step), resealed, idParam(key), sealed, stepParam(step)],
    );
    return affectedRows === 1;
  }

  async useRecoveryCode(id: string, hash: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isRecoveryHashKey(hash)) return false;
    const entry = recoveryEntry(hash);
    // One statement: of two concurrent uses, only one finds the entry.
    const { affectedRows } = await this.db.exec(
      "UPDATE users SET totp_recovery = REPLACE(totp_recovery, ?, ',') " +
        "WHERE id = ? AND totp_secret <> '' AND INSTR(totp_recovery, ?) > 0",
      [entry, idParam(key), entry],
    );
    return affectedRows === 1;
  }

  async recoveryCodesLeft(id: string): Promise<number> {
    const key = parseId(id);
    if (key === null) return 0;
    const [row] = await this.db.rows<RowDataPacket>(
      'SELECT totp_recovery FROM users WHERE id = ?',
      [idParam(key)],
    );
    return row === undefined ? 0 : recoveryCount(String(row.totp_recovery));
  }

  async disableTotp(id: string, nowMs: number): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.updateThenSelect(
      key,
      "UPDATE users SET totp_secret = '', totp_pending = '', totp_last_step = 0, " +
        "totp_recovery = '', updated_at = ?, version = version + 1 WHERE id = ?",
      [msParam(nowMs), idParam(key)],
    );
  }

  async revokeSession(sessionId: string, userId: string, expiresAtMs: number): Promise<void> {
    if (!isSessionIdKey(sessionId)) {
      throw new RangeError(`session id ${JSON.stringify(sessionId)} cannot be stored`);
    }
    // The no-op update makes a repeated revoke succeed without INSERT IGNORE,
    // which would also turn real errors into warnings.
    await this.db.exec(
      'INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES (?, ?, ?) ' +
        'ON DUPLICATE KEY UPDATE session_id = session_id',
      [sessionId, idParam(requireId(userId)), msParam(expiresAtMs)],
    );
  }

  async isSessionRevoked(sessionId: string, nowMs: number): Promise<boolean> {
    if (!isSessionIdKey(sessionId)) return false;
    const rows = await this.db.rows(
      'SELECT 1 FROM revoked_sessions WHERE session_id = ? AND expires_at > ?',
      [sessionId, msParam(nowMs)],
    );
    return rows.length > 0;
  }

  async listRevokedSessions(nowMs: number, range: RevokedRange): Promise<RevokedSession[]> {
    const { from, before, limit } = checkRevokedRange(range);
    // A range of the primary key (ascii_bin: the binary order), not the expiry index.
    const bounds = before === null ? [from] : [from, before];
    const rows = await this.db.rows<MysqlRevoked>(revokedPageSql(before !== null), [
      ...bounds,
      msParam(nowMs),
      limitParam(limit),
    ]);
    return rows.map(toRevokedSession);
  }

  async addCacheRepair(repair: CacheRepair): Promise<void> {
    await this.db.exec(
      'INSERT INTO cache_repairs (kind, item, expires_at) VALUES (?, ?, ?) ' +
        'ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, VALUES(expires_at))',
      [repairKindCode(repair), repair.item, msParam(repair.expiresAtMs)],
    );
  }

  async listCacheRepairs(
    nowMs: number,
    limit: number,
    after?: CacheRepair,
  ): Promise<CacheRepair[]> {
    const from = after === undefined ? 0 : repairKindCode(after);
    const rows = await this.db.rows<MysqlRepair>(
      'SELECT kind, item, CAST(expires_at AS CHAR) AS expires_at FROM cache_repairs ' +
        (after === undefined ? '' : 'WHERE kind > ? OR (kind = ? AND item > ?) ') +
        'ORDER BY kind, item LIMIT ?',
      [...(after === undefined ? [] : [from, from, after.item]), limitParam(limit)],
    );
    const repairs = storedRepairs(rows.map((r) => [r.kind, r.item, r.expires_at]));
    if (repairs.some((r) => r.expiresAtMs <= nowMs)) {
      await this.db.exec('DELETE FROM cache_repairs WHERE expires_at <= ?', [msParam(nowMs)]);
    }
    return repairs.filter((r) => r.expiresAtMs > nowMs);
  }

  async removeCacheRepairs(repairs: readonly CacheRepair[]): Promise<void> {
    // One statement per ROWS_PER_DELETE: after an outage every TCP server
    // removes up to a thousand at once, as traffic comes back.
    for (let at = 0; at < repairs.length; at += ROWS_PER_DELETE) {
      const batch = repairs.slice(at, at + ROWS_PER_DELETE);
      await this.db.exec(
        `DELETE FROM cache_repairs WHERE (kind, item, expires_at) IN (${batch.map(() => '(?, ?, ?)').join(', ')})`,
        batch.flatMap((r) => [repairKindCode(r), r.item, msParam(r.expiresAtMs)]),
      );
    }
  }

  async addPictureChecks(names: readonly string[], dueAtMs: number): Promise<void> {
    if (names.length === 0) return;
    await this.db.exec(
      `INSERT INTO picture_checks (name, due_at) VALUES ${names.map(() => '(?, ?)').join(', ')} ` +
        'ON DUPLICATE KEY UPDATE due_at = GREATEST(due_at, VALUES(due_at))',
      names.flatMap((name) => [name, msParam(dueAtMs)]),
    );
  }

  async duePictureChecks(nowMs: number, limit: number): Promise<PictureCheck[]> {
    const rows = await this.db.rows<{ name: string; due_at: string } & RowDataPacket>(
      'SELECT name, CAST(due_at AS CHAR) AS due_at FROM picture_checks WHERE due_at <= ? ' +
        'ORDER BY due_at LIMIT ?',
      [msParam(nowMs), limitParam(limit)],
    );
    return rows.map((r) => ({ name: r.name, dueAtMs: Number(r.due_at) }));
  }

  async removePictureChecks(checks: readonly PictureCheck[]): Promise<void> {
    for (let at = 0; at < checks.length; at += ROWS_PER_DELETE) {
      const batch = checks.slice(at, at + ROWS_PER_DELETE);
      await this.db.exec(
        `DELETE FROM picture_checks WHERE (name, due_at) IN (${batch.map(() => '(?, ?)').join(', ')})`,
        batch.flatMap((c) => [c.name, msParam(c.dueAtMs)]),
      );
    }
  }

  async purgeExpiredRevocations(nowMs: number): Promise<number> {
    let purged = 0;
    for (;;) {
      // Each batch takes and returns its own permit, so a long purge never
      // holds a connection the login path is waiting for.
      const { affectedRows } = await this.db.exec(
        `DELETE FROM revoked_sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ${PURGE_BATCH}`,
        [msParam(nowMs)],
      );
      purged += affectedRows;
      if (affectedRows < PURGE_BATCH) return purged;
    }
  }

  async saveSessions(sessions: readonly ListedSession[]): Promise<void> {
    if (sessions.length === 0) return;
    // Up to SAVE_STATEMENTS statements at once, each on its own connection:
    // one after another, a busy machine left MariaDB waiting between them,
    // and a backlog of 14,000 rows took 0.6 s to save (bench/RESULTS.md).
    // The workers share one generator: a worker's failure closes it (its
    // for-of returns it), so the others stop before their next chunk. The
    // call settles only once none is running: a caller told "failed" must
    // not have an INSERT land after it (a removal in between would be undone).
    const chunks = inChunks(sessions, SESSION_CHUNKS);
    const worker = async () => {
      for (const chunk of chunks) {
        await this.db.exec(
          `INSERT INTO user_sessions (${SESSION_COLUMNS}) VALUES ` +
            Array(chunk.length).fill(SESSION_ROW).join(', ') +
            ' ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, VALUES(expires_at))',
          // Plain values: inserted, not compared, so a double carries the
          // milliseconds exactly and a decimal string the id; typed
          // parameters cost mysql2 several microseconds more per row.
          chunk.flatMap((s) => [
            s.sessionId,
            requireId(s.userId).toString(),
            s.createdAtMs,
            s.expiresAtMs,
            s.persistent ? 1 : 0,
            s.address,
            s.userAgent,
          ]),
        );
      }
    };
    const workers = Math.min(SAVE_STATEMENTS, Math.ceil(sessions.length / SESSION_CHUNKS[0]));
    const outcomes = await Promise.allSettled(Array.from({ length: workers }, worker));
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  async listSessions(userId: string, nowMs: number, limit: number): Promise<ListedSession[]> {
    const key = parseId(userId);
    if (key === null) return [];
    const rows = await this.db.rows<MysqlSession>(
      `SELECT ${SESSION_COLUMNS} FROM user_sessions WHERE user_id = ? AND expires_at > ? ` +
        'ORDER BY created_at DESC LIMIT ?',
      [idParam(key), msParam(nowMs), limitParam(checkLimit(limit))],
    );
    return rows.map(toListedSession);
  }

  async deleteSessions(userId: string, sessionIds: readonly string[]): Promise<void> {
    const key = parseId(userId);
    const ids = sessionIds.filter(isSessionIdKey);
    if (key === null || ids.length === 0) return;
    await this.db.run(async (session) => {
      for (const id of ids)
        await session.exec('DELETE FROM user_sessions WHERE user_id = ? AND session_id = ?', [
          idParam(key),
          id,
        ]);
    });
  }

  async deleteUserSessions(userId: string, createdUpToMs: number): Promise<void> {
    const key = parseId(userId);
    if (key === null) return;
    await this.db.exec('DELETE FROM user_sessions WHERE user_id = ? AND created_at <= ?', [
      idParam(key),
      msParam(createdUpToMs),
    ]);
  }

  async trimSessions(userIds: readonly string[], keep: number): Promise<void> {
    const keys = [...new Set(userIds.map(parseId).filter((key) => key !== null))];
    if (keys.length === 0) return;
    const offset = limitParam(Math.max(0, keep - 1));
    // Two statements per chunk of users, not two per user: each statement
    // waited on costs this process far more than its rows (bench/RESULTS.md).
    // First each user's cut-off (its keep-th newest start; NULL with fewer
    // sessions), then one DELETE of the ranges below them, which MariaDB
    // walks along the primary key (a DELETE joined to the cut-offs cost
    // MariaDB about 40 % more). Sessions listed in between are newer than
    // the cut-off, so they stay.
    await this.db.run(async (session) => {
      for (const chunk of inChunks(keys, TRIM_CHUNKS)) {
        const size = chunk.length;
        const cuts = await session.rows<CutOffRow>(CUT_OFF_STATEMENTS.get(size) as string, [
          offset,
          ...chunk.map(idParam),
        ]);
        // A user with fewer sessions (NULL) gets the empty range below 0.
        await session.exec(
          TRIM_STATEMENTS.get(size) as string,
          cuts.flatMap((row) => [idParam(BigInt(row.user_id)), msParam(Number(row.cut_off))]),
        );
      }
    });
  }

  async purgeExpiredSessions(nowMs: number): Promise<number> {
    // No index on expires_at (sql/mysql/005): walk the primary key, user_id
    // first, about PURGE_BATCH rows at a time, each range one statement with
    // its own permit; every user's rows fall in one range.
    let purged = 0;
    let from = 0n;
    for (;;) {
      const [edge] = await this.db.rows<EdgeRow>(
        'SELECT CAST(user_id AS CHAR) AS edge FROM user_sessions WHERE user_id >= ? ' +
          'ORDER BY user_id LIMIT 1 OFFSET ?',
        [idParam(from), limitParam(PURGE_BATCH - 1)],
      );
      const to = edge === undefined ? null : BigInt(edge.edge);
      const { affectedRows } = await this.db.exec(
        to === null ? PURGE_FROM : PURGE_RANGE,
        to === null
          ? [msParam(nowMs), idParam(from)]
          : [msParam(nowMs), idParam(from), idParam(to)],
      );
      purged += affectedRows;
      if (to === null) return purged;
      from = to + 1n;
    }
  }

  async ping(): Promise<void> {
    await this.db.rows('SELECT 1', []);
  }

  async close(): Promise<void> {
    await this.replicas?.close();
    await this.db.close();
  }
}
