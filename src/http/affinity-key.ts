/**
 * The key the pool routes a call by (src/rpc/affinity.ts): the user it is
 * about, as the lowercased username, which is how the TCP server tells users
 * apart (usernames are unique case-insensitively). Login and sign-up take it
 * from the username typed; calls that carry a session read it from the
 * session token, so that a user's session checks go to the server that
 * logged them in (its user cache and memo), and an unknown or forged token
 * simply routes somewhere: the TCP server still checks every token.
 */

/** Longer tokens are not read (the TCP server refuses them anyway). */
const MAX_TOKEN_CHARS = 256;

/** The key of a call about `username` (spaces around it are dropped, as the TCP server drops them). */
export function usernameKey(username: string): string {
  return username.trim().toLowerCase();
}

/**
 * The key of the user a session token names, read without checking the
 * token; undefined when it is not one. The payload layout is
 * src/core/session-tokens.ts's: version 3 keeps the username's length at byte
 * 51 and the username from byte 52; version 2 at 43 and 44 (no valid-after);
 * version 1 one byte earlier still (no flags).
 */
export function sessionKey(token: string): string | undefined {
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return undefined;
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const payload = Buffer.from(token.slice(0, dot), 'base64url');
  const version = payload[0];
  const fixed = version === 3 ? 52 : version === 2 ? 44 : version === 1 ? 43 : 0;
  if (fixed === 0 || payload.length !== fixed + (payload[fixed - 1] ?? -1)) return undefined;
  return usernameKey(payload.toString('latin1', fixed));
}
