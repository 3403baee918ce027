import mysql, { type RowDataPacket } from 'mysql2/promise';
import type { UserRow } from '../port.ts';
import { type StoredRevoked, type StoredUser, toUserRow } from '../rows.ts';

export { revokedPageSql, toRevokedSession, toUserRow, USER_COLUMNS } from '../rows.ts';

/** A users row as mysql2 returns it: every BIGINT is a decimal string (bigNumberStrings). */
export interface MysqlUser extends RowDataPacket, StoredUser {
  id: string;
}

export interface MysqlRevoked extends RowDataPacket, StoredRevoked {}

export function firstUser(rows: MysqlUser[]): UserRow | null {
  const row = rows[0];
  return row === undefined ? null : toUserRow(row);
}

/*
 * Integer parameters carry an explicit wire type. A JS number would travel as
 * a DOUBLE and a string as text: compared with a BIGINT column, MySQL may then
 * compare as doubles, where 9007199254740993 equals 9007199254740992.
 * (A typed LIMIT placeholder is also accepted by every server version.)
 */
const { TypedParameter } = mysql;

/** A user id column value. */
export const idParam = (id: bigint) => TypedParameter.BIGINT.unsigned(id);
/** Milliseconds since the epoch. */
export const msParam = (ms: number) => TypedParameter.BIGINT(ms);
/** A users.version. */
export const versionParam = (version: number) => TypedParameter.BIGINT.unsigned(version);
/** A TOTP time step (30-second periods since the epoch). */
export const stepParam = (step: number) => TypedParameter.BIGINT(step);
/** A LIMIT. */
export const limitParam = (limit: number) => TypedParameter.INT(limit);
