import type { User } from '../gen/usermgr/v1/rpc_pb.ts';

/** A user as the JSON API shows it. Ids are strings: they exceed 2^53. */
export interface UserJson {
  id: string;
  username: string;
  nickname: string;
  picture_url: string | null;
}

export function userJson(user: User | undefined): UserJson {
  if (user === undefined) throw new Error('the TCP server answered without a user');
  return {
    id: user.id,
    username: user.username,
    nickname: user.nickname,
    picture_url: user.picture === '' ? null : `/pictures/${user.picture}.webp`,
  };
}
