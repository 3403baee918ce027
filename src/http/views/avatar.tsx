import { pictureUrl } from '../user-json.ts';

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Up to two initials, one from each of the first two words; grapheme-aware ("🚀", "Ẓ"). */
function initials(nickname: string): string {
  return nickname
    .trim()
    .split(/\s+/u)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => graphemes.segment(word)[Symbol.iterator]().next().value?.segment ?? '')
    .join('')
    .toLocaleUpperCase();
}

/** One of eight colours, the same for a username every time. */
function hue(username: string): number {
  let h = 2166136261;
  for (const char of username.toLowerCase())
    h = Math.imul(h ^ (char.codePointAt(0) ?? 0), 16777619);
  return (h >>> 0) % 8;
}

export interface AvatarProps {
  username: string;
  nickname: string;
  picture: string;
  id?: string;
}

/** The user's picture, or a placeholder with their initials. */
export function Avatar({ username, nickname, picture, id }: AvatarProps) {
  if (picture !== '') {
    return (
      // Beside the nickname on the page, which says whose it is: as alternative text the
      // nickname was read twice (the Picture section says what there is to know about it).
      <img class="avatar" id={id} src={pictureUrl(picture)} width={96} height={96} alt="" />
    );
  }
  return (
    <div
      class={`avatar initials hue-${hue(username)}`}
      id={id}
      role="img"
      aria-label={`No picture yet: initials of ${nickname}`}
    >
      {initials(nickname)}
    </div>
  );
}
