/**
 * Pages of the admin user listing: what a caller asks for becomes the
 * store's keyset ListOptions, and a page gives the cursor of the next one.
 * Everything the caller sends is checked here (INVALID_ARGUMENT naming the
 * field), so the store only ever sees well-formed keys.
 */
import type { ListOptions, UserRow } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument } from '../wire/rpc-error.ts';
import { decodeCursor, encodeCursor, type ListPosition, USERNAME_CHARS } from './list-cursor.ts';

export interface ListQuery {
  /** 1..MAX_PAGE_SIZE; 0 means DEFAULT_PAGE_SIZE. */
  limit: number;
  /** '' for the first page. */
  cursor: string;
  /** '' for all users in id order. */
  usernamePrefix: string;
}

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

/** The store's options for this query; throws INVALID_ARGUMENT naming the field at fault. */
export function listOptions(query: ListQuery): ListOptions {
  const limit = query.limit === 0 ? DEFAULT_PAGE_SIZE : query.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw invalidArgument(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, 'limit');
  }
  const prefix = query.usernamePrefix;
  if (prefix !== '' && !USERNAME_CHARS.test(prefix)) {
    throw invalidArgument(
      "username_prefix must be 1 to 32 characters: letters A-Z, digits, '_', '.' or '-'",
      'username_prefix',
    );
  }
  const after = query.cursor === '' ? null : position(query.cursor, prefix);
  return {
    limit,
    usernamePrefix: prefix,
    afterId: after?.order === 'id' ? after.afterId : null,
    afterUsername: after?.order === 'username' ? after.afterUsername : null,
  };
}

/**
 * The cursor of the page after `users`, '' when this was the last page.
 * A full page may be followed by an empty one: knowing for sure would cost
 * another row per page, and an empty last page harms nobody.
 */
export function nextCursor(options: ListOptions, users: UserRow[]): string {
  const last = users.at(-1);
  if (last === undefined || users.length < options.limit) return '';
  const prefix = options.usernamePrefix;
  return encodeCursor(
    prefix === ''
      ? { order: 'id', afterId: last.id }
      : { order: 'username', prefix, afterUsername: last.username },
  );
}

/** The decoded cursor, which must belong to a listing of this same prefix. */
function position(cursor: string, prefix: string): ListPosition {
  const decoded = decodeCursor(cursor);
  if (decoded === null) throw invalidArgument(MESSAGES.FOREIGN_CURSOR, 'cursor');
  const matches =
    prefix === ''
      ? decoded.order === 'id'
      : decoded.order === 'username' && decoded.prefix === prefix.toLowerCase();
  if (!matches) {
    throw invalidArgument('cursor belongs to a listing with another username_prefix', 'cursor');
  }
  return decoded;
}
