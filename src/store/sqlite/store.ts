/**
 * UserStore on embedded SQLite (bun:sqlite), for `npm start` with no
 * configuration and for the services' unit tests.
 *
 * Invariants:
 * - one connection per process; bun:sqlite is synchronous, so each method
 *   runs its statements without yielding and is atomic with respect to every
 *   other call in this process (multi-statement writes also take a write
 *   transaction, for other processes sharing the file);
 * - ids are bound as BigInt and read back as bigint (safeIntegers), so values
 *   up to 2^63-1 survive exactly;
 * - every write of a column a UserRow carries raises `version` by one
 *   (sql/sqlite/006_users_version.sql), as on MySQL;
 * - lock waits past busy_timeout and disk failures throw UNAVAILABLE
 *   (errors.ts); other errors are bugs and pass through.
 *
 * `db.query()` caches each prepared statement by its SQL text, so the SQL
 * strings below are prepared once per process.
 */
import type { Database } from 'bun:sqlite';
import {
  checkLimit,
  checkRevokedRange,
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
import { guard } from './errors.ts';
import {
  revokedPageSql,
  type SqliteRevoked,
  type SqliteUser,
  toRevokedSession,
  toUserRow,
  toUserRowOrNull,
  USER_COLUMNS,
} from './rows.ts';

type Param = string | number | bigint;

export class SqliteStore implements UserStore {
  constructor(readonly db: Database) {}

  private one(sql: string, ...params: Param[]): UserRow | null {
    return guard(() => toUserRowOrNull(this.db.query<SqliteUser, Param[]>(sql).get(...params)));
  }

  private many(sql: string, ...params: Param[]): UserRow[] {
    return guard(() =>
      this.db
        .query<SqliteUser, Param[]>(sql)
        .all(...params)
        .map(toUserRow),
    );
  }

  async findByUsername(username: string): Promise<UserRow | null> {
    if (!isUsernameKey(username)) return null;
    return this.one(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`, username);
  }

  async findById(id: string): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.one(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, key);
  }

  async create(user: UserRow): Promise<'created' | 'username_taken' | 'id_taken'> {
    const id = requireId(user.id);
    // A username clash does nothing; an id clash is told by a look after it.
    const { changes } = guard(() =>
      this.db
        .query<never, Param[]>(
          `INSERT INTO users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ` +
            'ON CONFLICT DO NOTHING',
        )
        .run(
          id,
          user.username,
          user.nickname,
          user.passwordHash,
          user.picture,
          user.sessionsValidAfterMs,
          user.createdAtMs,
          user.updatedAtMs,
          user.totpSecret,
          user.version,
        ),
    );
    if (changes === 1) return 'created';
    const byId = this.db.query<{ one: number }, Param[]>('SELECT 1 AS one FROM users WHERE id = ?');
    return guard(() => byId.get(id)) === null ? 'username_taken' : 'id_taken';
  }

  /** One statement already (RETURNING, in process): the row seen is not needed. */
  async updateNickname(id: string, nickname: string, nowMs: number): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.one(
      'UPDATE users SET nickname = ?, updated_at = ?, version = version + 1 WHERE id = ? ' +
        `RETURNING ${USER_COLUMNS}`,
      nickname,
      nowMs,
      key,
    );
  }

  async updatePicture(
    id: string,
    picture: string,
    nowMs: number,
  ): Promise<{ user: UserRow; previous: string } | null> {
    const key = parseId(id);
    if (key === null) return null;
    const update = this.db.transaction(() => {
      const before = this.db
        .query<{ picture: string }, [bigint]>('SELECT picture FROM users WHERE id = ?')
        .get(key);
      if (before === null) return null;
      const user = this.one(
        'UPDATE users SET picture = ?, updated_at = ?, version = version + 1 WHERE id = ? ' +
          `RETURNING ${USER_COLUMNS}`,
        picture,
        nowMs,
        key,
      );
      return user === null ? null : { user, previous: before.picture };
    });
    return guard(() => update.immediate());
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
      ? 'sessions_valid_after = max(sessions_valid_after + 1, ?2), '
      : '';
    const guarded = ifValidAfterMs !== undefined;
    return this.one(
      `UPDATE users SET password_hash = ?1, ${sessions}updated_at = ?2, version = version + 1 ` +
        `WHERE id = ?3 ${guarded ? 'AND sessions_valid_after = ?4 ' : ''}` +
        `RETURNING ${USER_COLUMNS}`,
      passwordHash,
      nowMs,
      key,
      ...(guarded ? [ifValidAfterMs] : []),
    );
  }

  async replacePasswordHash(id: string, expected: string, passwordHash: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const { changes } = guard(() =>
      this.db
        .query<never, Param[]>(
          'UPDATE users SET password_hash = ?, version = version + 1 ' +
            'WHERE id = ? AND password_hash = ?',
        )
        .run(passwordHash, key, expected),
    );
    return changes === 1;
  }

  async endSessions(id: string, validAfterMs: number): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.one(
      'UPDATE users SET sessions_valid_after = max(sessions_valid_after + 1, ?), ' +
        'version = version + 1 WHERE id = ? ' +
        `RETURNING ${USER_COLUMNS}`,
      validAfterMs,
      key,
    );
  }

  async delete(id: string): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.one(`DELETE FROM users WHERE id = ? RETURNING ${USER_COLUMNS}`, key);
  }

  async list(options: ListOptions): Promise<UserRow[]> {
    const limit = checkLimit(options.limit);
    if (options.usernamePrefix === '') {
      const after = options.afterId === null ? -1n : parseId(options.afterId);
      if (after === null) return [];
      return this.many(
        `SELECT ${USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?`,
        after,
        limit,
      );
    }
    // No row can match a prefix or follow a cursor that is no possible username.
    if (!isUsernameKey(options.usernamePrefix)) return [];
    const pattern = likePrefix(options.usernamePrefix);
    // LIKE is ASCII-case-insensitive and the column is NOCASE, so SQLite turns
    // this into a range scan of users_username_uq, already in username order.
    if (options.afterUsername === null) {
      return this.many(
        `SELECT ${USER_COLUMNS} FROM users WHERE username LIKE ? ESCAPE '!' ` +
          'ORDER BY username LIMIT ?',
        pattern,
        limit,
      );
    }
    if (!isUsernameKey(options.afterUsername)) return [];
    return this.many(
      `SELECT ${USER_COLUMNS} FROM users WHERE username LIKE ? ESCAPE '!' AND username > ? ` +
        'ORDER BY username LIMIT ?',
      pattern,
      options.afterUsername,
      limit,
    );
  }

  async isPictureUsed(picture: string): Promise<boolean> {
    if (!isPictureKey(picture)) return false;
    return guard(
      () => this.db.query('SELECT 1 FROM users WHERE picture = ? LIMIT 1').get(picture) !== null,
    );
  }

  /** The number of rows one write statement changed. */
  private changes(sql: string, ...params: Param[]): number {
    return guard(() => this.db.query<never, Param[]>(sql).run(...params).changes);
  }

  /** One text column of a user; '' when there is no such user. */
  private column(name: 'totp_pending' | 'totp_recovery', id: string): string {
    const key = parseId(id);
    if (key === null) return '';
    const row = guard(() =>
      this.db
        .query<Record<string, string>, [bigint]>(`SELECT ${name} FROM users WHERE id = ?`)
        .get(key),
    );
    return row?.[name] ?? '';
  }

  async totpPending(id: string): Promise<string> {
    return this.column('totp_pending', id);
  }

  async setTotpPending(id: string, sealed: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isSealedSecretKey(sealed)) return false;
    return (
      this.changes(
        "UPDATE users SET totp_pending = ? WHERE id = ? AND totp_secret = ''",
        sealed,
        key,
      ) === 1
    );
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
    return this.one(
      "UPDATE users SET totp_secret = ?, totp_pending = '', totp_last_step = ?, " +
        'totp_recovery = ?, updated_at = ?, version = version + 1 ' +
        "WHERE id = ? AND totp_pending = ? AND totp_secret = '' " +
        `RETURNING ${USER_COLUMNS}`,
      secret,
      step,
      recoveryColumn(recoveryHashes),
      nowMs,
      key,
      pending,
    );
  }

  async useTotpStep(id: string, sealed: string, step: number, resealed: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isSealedSecretKey(sealed) || !isSealedSecretKey(resealed)) return false;
    return (
      this.changes(
        'UPDATE users SET totp_last_step = ?1, totp_secret = ?2, version = version + 1 ' +
          'WHERE id = ?3 AND totp_secret = ?4 AND totp_last_step < ?1',
        step,
        resealed,
        key,
        sealed,
      ) === 1
    );
  }

  async useRecoveryCode(id: string, hash: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null || !isRecoveryHashKey(hash)) return false;
    return (
      this.changes(
        "UPDATE users SET totp_recovery = replace(totp_recovery, ?1, ',') " +
          "WHERE id = ?2 AND totp_secret <> '' AND instr(totp_recovery, ?1) > 0",
        recoveryEntry(hash),
        key,
      ) === 1
    );
  }

  async recoveryCodesLeft(id: string): Promise<number> {
    return recoveryCount(this.column('totp_recovery', id));
  }

  async disableTotp(id: string, nowMs: number): Promise<UserRow | null> {
    const key = parseId(id);
    if (key === null) return null;
    return this.one(
      "UPDATE users SET totp_secret = '', totp_pending = '', totp_last_step = 0, " +
        "totp_recovery = '', updated_at = ?, version = version + 1 " +
        `WHERE id = ? RETURNING ${USER_COLUMNS}`,
      nowMs,
      key,
    );
  }

  async revokeSession(sessionId: string, userId: string, expiresAtMs: number): Promise<void> {
    if (!isSessionIdKey(sessionId)) {
      throw new RangeError(`session id ${JSON.stringify(sessionId)} cannot be stored`);
    }
    const user = requireId(userId);
    guard(() =>
      this.db
        .query(
          'INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES (?, ?, ?) ' +
            'ON CONFLICT (session_id) DO NOTHING',
        )
        .run(sessionId, user, expiresAtMs),
    );
  }

  async isSessionRevoked(sessionId: string, nowMs: number): Promise<boolean> {
    if (!isSessionIdKey(sessionId)) return false;
    return guard(
      () =>
        this.db
          .query('SELECT 1 FROM revoked_sessions WHERE session_id = ? AND expires_at > ?')
          .get(sessionId, nowMs) !== null,
    );
  }

  async listRevokedSessions(nowMs: number, range: RevokedRange): Promise<RevokedSession[]> {
    const { from, before, limit } = checkRevokedRange(range);
    const bounds = before === null ? [from] : [from, before];
    return guard(() =>
      this.db
        .query<SqliteRevoked, (string | number)[]>(revokedPageSql(before !== null))
        .all(...bounds, nowMs, limit)
        .map(toRevokedSession),
    );
  }

  async addCacheRepair(repair: CacheRepair): Promise<void> {
    const kind = repairKindCode(repair);
    guard(() =>
      this.db
        .query<never, Param[]>(
          'INSERT INTO cache_repairs (kind, item, expires_at) VALUES (?, ?, ?) ' +
            'ON CONFLICT (kind, item) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)',
        )
        .run(kind, repair.item, repair.expiresAtMs),
    );
  }

  async listCacheRepairs(
    nowMs: number,
    limit: number,
    after?: CacheRepair,
  ): Promise<CacheRepair[]> {
    return guard(() => {
      this.db.query('DELETE FROM cache_repairs WHERE expires_at <= ?').run(nowMs);
      const from = after === undefined ? 0 : repairKindCode(after);
      const rows = this.db
        .query<{ kind: number | bigint; item: string; expires_at: number | bigint }, Param[]>(
          'SELECT kind, item, expires_at FROM cache_repairs ' +
            (after === undefined ? '' : 'WHERE kind > ? OR (kind = ? AND item > ?) ') +
            'ORDER BY kind, item LIMIT ?',
        )
        .all(...(after === undefined ? [] : [from, from, after.item]), limit);
      return storedRepairs(rows.map((r) => [r.kind, r.item, r.expires_at]));
    });
  }

  async removeCacheRepairs(repairs: readonly CacheRepair[]): Promise<void> {
    const remove = this.db.query<never, Param[]>(
      'DELETE FROM cache_repairs WHERE kind = ? AND item = ? AND expires_at = ?',
    );
    guard(() => {
      for (const repair of repairs)
        remove.run(repairKindCode(repair), repair.item, repair.expiresAtMs);
    });
  }

  async addPictureChecks(names: readonly string[], dueAtMs: number): Promise<void> {
    const add = this.db.query<never, Param[]>(
      'INSERT INTO picture_checks (name, due_at) VALUES (?, ?) ' +
        'ON CONFLICT (name) DO UPDATE SET due_at = max(due_at, excluded.due_at)',
    );
    guard(() =>
      this.db.transaction(() => {
        for (const name of names) add.run(name, dueAtMs);
      })(),
    );
  }

  async duePictureChecks(nowMs: number, limit: number): Promise<PictureCheck[]> {
    return guard(() =>
      this.db
        .query<{ name: string; due_at: number | bigint }, Param[]>(
          'SELECT name, due_at FROM picture_checks WHERE due_at <= ? ORDER BY due_at LIMIT ?',
        )
        .all(nowMs, limit)
        .map((r) => ({ name: r.name, dueAtMs: Number(r.due_at) })),
    );
  }

  async removePictureChecks(checks: readonly PictureCheck[]): Promise<void> {
    const remove = this.db.query<never, Param[]>(
      'DELETE FROM picture_checks WHERE name = ? AND due_at = ?',
    );
    guard(() => {
      for (const check of checks) remove.run(check.name, check.dueAtMs);
    });
  }

  async purgeExpiredRevocations(nowMs: number): Promise<number> {
    return guard(
      () => this.db.query('DELETE FROM revoked_sessions WHERE expires_at <= ?').run(nowMs).changes,
    );
  }

  async saveSessions(sessions: readonly ListedSession[]): Promise<void> {
    const insert = this.db.query<never, Param[]>(
      `INSERT INTO user_sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ` +
        'ON CONFLICT (user_id, created_at, session_id) ' +
        'DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)',
    );
    const save = this.db.transaction(() => {
      for (const s of sessions) {
        insert.run(
          s.sessionId,
          requireId(s.userId),
          s.createdAtMs,
          s.expiresAtMs,
          s.persistent ? 1 : 0,
          s.address,
          s.userAgent,
        );
      }
    });
    guard(() => save.immediate());
  }

  async listSessions(userId: string, nowMs: number, limit: number): Promise<ListedSession[]> {
    const key = parseId(userId);
    if (key === null) return [];
    return guard(() =>
      this.db
        .query<StoredSession, Param[]>(
          `SELECT ${SESSION_COLUMNS} FROM user_sessions WHERE user_id = ? AND expires_at > ? ` +
            'ORDER BY created_at DESC LIMIT ?',
        )
        .all(key, nowMs, checkLimit(limit))
        .map(toListedSession),
    );
  }

  async deleteSessions(userId: string, sessionIds: readonly string[]): Promise<void> {
    const key = parseId(userId);
    if (key === null) return;
    const remove = this.db.query<never, [bigint, string]>(
      'DELETE FROM user_sessions WHERE user_id = ? AND session_id = ?',
    );
    const run = this.db.transaction(() => {
      for (const id of sessionIds) if (isSessionIdKey(id)) remove.run(key, id);
    });
    guard(() => run.immediate());
  }

  async deleteUserSessions(userId: string, createdUpToMs: number): Promise<void> {
    const key = parseId(userId);
    if (key === null) return;
    guard(() =>
      this.db
        .query('DELETE FROM user_sessions WHERE user_id = ? AND created_at <= ?')
        .run(key, createdUpToMs),
    );
  }

  async trimSessions(userIds: readonly string[], keep: number): Promise<void> {
    const keys = userIds.map(parseId).filter((key) => key !== null);
    if (keys.length === 0) return;
    // In process: no round trip to save, so one statement per user, in one transaction.
    const trim = this.db.query(
      'DELETE FROM user_sessions WHERE user_id = ?1 AND created_at < (' +
        'SELECT created_at FROM user_sessions WHERE user_id = ?1 ' +
        'ORDER BY created_at DESC LIMIT 1 OFFSET ?2)',
    );
    guard(() =>
      this.db.transaction(() => {
        for (const key of keys) trim.run(key, Math.max(0, keep - 1));
      })(),
    );
  }

  async purgeExpiredSessions(nowMs: number): Promise<number> {
    // Reads the whole table (no index on expires_at, sql/sqlite/005): every
    // ten minutes, on the embedded store's scale.
    return guard(
      () =>
        this.db
          .query(
            'DELETE FROM user_sessions WHERE expires_at <= ? ' +
              'OR NOT EXISTS (SELECT 1 FROM users WHERE users.id = user_sessions.user_id)',
          )
          .run(nowMs).changes,
    );
  }

  async ping(): Promise<void> {
    guard(() => this.db.query('SELECT 1').get());
  }

  async close(): Promise<void> {
    // Lets SQLite refresh the planner statistics it found worth updating.
    guard(() => this.db.run('PRAGMA optimize'));
    this.db.close();
  }
}
