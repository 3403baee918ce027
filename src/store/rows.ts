import { repairKind } from './keys.ts';
import type { CacheRepair, ListedSession, RevokedSession, UserRow } from './port.ts';

/** The columns of a users row, in the order both adapters select them. */
export const USER_COLUMNS =
  'id, username, nickname, password_hash, picture, sessions_valid_after, created_at, updated_at, ' +
  'totp_secret, version';

/** A users row as a driver returns it: 64-bit integers as decimal strings (mysql2) or bigints (bun:sqlite). */
export interface StoredUser {
  id: string | bigint;
  username: string;
  nickname: string;
  password_hash: string;
  picture: string;
  sessions_valid_after: string | bigint;
  created_at: string | bigint;
  updated_at: string | bigint;
  totp_secret: string;
  version: string | bigint;
}

/**
 * A page of live revocations in session id order, for both adapters: its
 * parameters are from, [before,] now and the limit. Without an end the
 * statement has no upper bound (a bound in SQL, not `? IS NULL OR`, so that
 * the end limits the primary key's search).
 */
export function revokedPageSql(bounded: boolean): string {
  return `SELECT session_id, expires_at FROM revoked_sessions
    WHERE session_id >= ?${bounded ? ' AND session_id < ?' : ''} AND expires_at > ?
    ORDER BY session_id LIMIT ?`;
}

export interface StoredRevoked {
  session_id: string;
  expires_at: string | bigint;
}

export function toUserRow(row: StoredUser): UserRow {
  return {
    id: row.id.toString(),
    username: row.username,
    nickname: row.nickname,
    passwordHash: row.password_hash,
    picture: row.picture,
    sessionsValidAfterMs: Number(row.sessions_valid_after),
    createdAtMs: Number(row.created_at),
    updatedAtMs: Number(row.updated_at),
    totpSecret: row.totp_secret,
    version: Number(row.version),
  };
}

export function toRevokedSession(row: StoredRevoked): RevokedSession {
  return { sessionId: row.session_id, expiresAtMs: Number(row.expires_at) };
}

/** The columns of a user_sessions row, in the order both adapters select and insert them. */
export const SESSION_COLUMNS =
  'session_id, user_id, created_at, expires_at, persistent, address, user_agent';

export interface StoredSession {
  session_id: string;
  user_id: string | bigint;
  created_at: string | bigint;
  expires_at: string | bigint;
  persistent: number | bigint;
  address: string;
  user_agent: string;
}

export function toListedSession(row: StoredSession): ListedSession {
  return {
    sessionId: row.session_id,
    userId: row.user_id.toString(),
    createdAtMs: Number(row.created_at),
    expiresAtMs: Number(row.expires_at),
    persistent: Number(row.persistent) !== 0,
    address: row.address,
    userAgent: row.user_agent,
  };
}

/**
 * The recovery codes' hashes as the column keeps them: `,h1,h2,...,`, so
 * that one code is `,h,` and using it is one REPLACE (no hash holds a comma).
 */
export function recoveryColumn(hashes: readonly string[]): string {
  return hashes.length === 0 ? '' : `,${hashes.join(',')},`;
}

/** The one code of a hash, as it appears in the column. */
export function recoveryEntry(hash: string): string {
  return `,${hash},`;
}

/** How many codes a recovery column holds. */
export function recoveryCount(column: string): number {
  return column.split(',').filter(Boolean).length;
}

/** Stored cache repairs as [kind code, item, expires at]; kinds this version does not know are left out. */
export function storedRepairs(
  rows: readonly [number | bigint, string, number | bigint | string][],
): CacheRepair[] {
  const repairs: CacheRepair[] = [];
  for (const [code, item, expiresAt] of rows) {
    const kind = repairKind(Number(code));
    if (kind !== null) repairs.push({ kind, item, expiresAtMs: Number(expiresAt) });
  }
  return repairs;
}
