import type { LiveSession, User } from '../gen/usermgr/v1/rpc_pb.ts';

/** A user as the JSON API shows it. Ids are strings: they exceed 2^53. */
export interface UserJson {
  id: string;
  username: string;
  nickname: string;
  picture_url: string | null;
}

/** Where a stored picture is served: the 256 px image, or with `small` the 64 px one. */
export function pictureUrl(picture: string, small = false): string {
  return `/pictures/${picture}${small ? '-64' : ''}.webp`;
}

export function userJson(user: User | undefined): UserJson {
  if (user === undefined) throw new Error('the TCP server answered without a user');
  return {
    id: user.id,
    username: user.username,
    nickname: user.nickname,
    picture_url: user.picture === '' ? null : pictureUrl(user.picture),
  };
}

/**
 * A user as the admin API shows it: the public shape, when it was created and
 * last changed, and whether two-step login is on.
 */
export interface AdminUserJson extends UserJson {
  /** RFC 3339, UTC, millisecond precision. */
  created_at: string;
  updated_at: string;
  two_step: boolean;
}

export function adminUserJson(answer: {
  user?: User | undefined;
  twoStep?: boolean | undefined;
}): AdminUserJson {
  const json = userJson(answer.user); // throws when there is no user
  const { createdAtMs, updatedAtMs } = answer.user as User;
  return {
    ...json,
    created_at: new Date(Number(createdAtMs)).toISOString(),
    updated_at: new Date(Number(updatedAtMs)).toISOString(),
    two_step: answer.twoStep === true,
  };
}

/** A live session as the JSON API shows it ("Where you're logged in"). */
export interface SessionJson {
  /** A handle for DELETE /api/v1/me/sessions/{id}: not the token, and not usable as one. */
  id: string;
  /** From the User-Agent at login; null when not recognised. */
  browser: string | null;
  system: string | null;
  /** The client address at login; null when unknown. */
  address: string | null;
  /** RFC 3339, UTC, millisecond precision. */
  created_at: string;
  expires_at: string;
  /** The session of this request. */
  current: boolean;
  /** Made with "keep me logged in". */
  remember: boolean;
}

export function sessionJson(session: LiveSession): SessionJson {
  return {
    id: session.id,
    browser: session.browser || null,
    system: session.system || null,
    address: session.address || null,
    created_at: new Date(Number(session.createdAtMs)).toISOString(),
    expires_at: new Date(Number(session.expiresAtMs)).toISOString(),
    current: session.current,
    remember: session.persistent,
  };
}
