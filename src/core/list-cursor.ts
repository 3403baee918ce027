/**
 * Cursors of the admin user listing: opaque to callers, but nothing secret.
 *
 * A cursor is base64url (no padding) of ASCII text naming where the next page
 * starts, in one of the store's two orders (see ListOptions):
 * - `v1:id:<id>` - all users in id order, after this id;
 * - `v1:name:<prefix>:<username>` - users whose username starts with
 *   <prefix> (kept lower-case), in username order, after this username.
 * ':' cannot occur in a username, so the fields split unambiguously.
 *
 * Anyone can forge a cursor; that is harmless (it only chooses where a listing
 * the caller may see anyway starts), so decoding is strict instead of signed:
 * anything but the canonical encoding of a well-formed cursor is null, which
 * the service answers with 400. No garbage reaches the store.
 */
import { usernamePrefixPattern } from '../wire/account-rules.ts';

export type ListPosition =
  | { order: 'id'; afterId: string }
  | { order: 'username'; prefix: string; afterUsername: string };

const VERSION = 'v1';
/** The longest cursor encode() can produce is about 100 characters. */
const MAX_CURSOR_CHARS = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ID = /^(0|[1-9][0-9]{0,18})$/;
const MAX_ID = (1n << 63n) - 1n;
/** What a username (or a prefix of one) can be made of: see USERNAME_RULE. */
export const USERNAME_CHARS = new RegExp(usernamePrefixPattern(1));

export function encodeCursor(position: ListPosition): string {
  const text =
    position.order === 'id'
      ? `${VERSION}:id:${position.afterId}`
      : `${VERSION}:name:${position.prefix.toLowerCase()}:${position.afterUsername}`;
  return Buffer.from(text, 'ascii').toString('base64url');
}

/** The position a cursor names, or null when it is not one encodeCursor() could have made. */
export function decodeCursor(cursor: string): ListPosition | null {
  if (cursor.length > MAX_CURSOR_CHARS || !BASE64URL.test(cursor)) return null;
  const bytes = Buffer.from(cursor, 'base64url');
  // Canonical only: other spellings of the same bytes (stray low bits in
  // the last character) are not cursors we made.
  if (bytes.toString('base64url') !== cursor) return null;
  const text = bytes.toString('latin1');
  const fields = text.split(':');
  if (fields[0] !== VERSION) return null;
  if (fields[1] === 'id' && fields.length === 3) {
    const id = fields[2] as string;
    return ID.test(id) && BigInt(id) <= MAX_ID ? { order: 'id', afterId: id } : null;
  }
  if (fields[1] === 'name' && fields.length === 4) {
    const [, , prefix, username] = fields as [string, string, string, string];
    const wellFormed =
      USERNAME_CHARS.test(prefix) &&
      prefix === prefix.toLowerCase() &&
      USERNAME_CHARS.test(username) &&
      username.toLowerCase().startsWith(prefix);
    return wellFormed ? { order: 'username', prefix, afterUsername: username } : null;
  }
  return null;
}
