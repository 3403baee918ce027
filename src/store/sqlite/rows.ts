import type { UserRow } from '../port.ts';
import { type StoredUser, toUserRow } from '../rows.ts';

export type { StoredRevoked as SqliteRevoked } from '../rows.ts';
export { revokedPageSql, toRevokedSession, toUserRow, USER_COLUMNS } from '../rows.ts';

/** A users row as bun:sqlite returns it with safeIntegers on. */
export interface SqliteUser extends StoredUser {
  id: bigint;
}

export function toUserRowOrNull(row: SqliteUser | null): UserRow | null {
  return row === null ? null : toUserRow(row);
}
