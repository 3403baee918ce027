import { describe, expect, it } from 'bun:test';
import { decodeCursor, encodeCursor, type ListPosition } from './list-cursor.ts';

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64url');

describe('unit: list cursors', () => {
  it('should round-trip both orders, ids up to 2^63-1 exactly', () => {
    const positions: ListPosition[] = [
      { order: 'id', afterId: '0' },
      { order: 'id', afterId: '9007199254740993' },
      { order: 'id', afterId: '9223372036854775807' },
      { order: 'username', prefix: 'ab', afterUsername: 'AbC.d-e_f' },
      { order: 'username', prefix: 'x', afterUsername: 'x' },
    ];
    for (const position of positions) {
      const cursor = encodeCursor(position);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor)).toEqual(position);
    }
  });

  it('should keep the prefix lower-case, so that AB and ab share cursors', () => {
    const cursor = encodeCursor({ order: 'username', prefix: 'AB', afterUsername: 'abc' });
    expect(decodeCursor(cursor)).toEqual({ order: 'username', prefix: 'ab', afterUsername: 'abc' });
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'djE6aWQ6MTIz!'],
    ['standard base64 with padding', `${Buffer.from('v1:id:1').toString('base64')}`],
    ['a non-canonical last character', `${b64('v1:id:12').slice(0, -1)}N`],
    ['very long', 'A'.repeat(10_000)],
    ['another version', b64('v2:id:1')],
    ['an unknown order', b64('v1:offset:100')],
    ['a negative id', b64('v1:id:-1')],
    ['an id with leading zeros', b64('v1:id:007')],
    ['an id beyond 2^63-1', b64('v1:id:9223372036854775808')],
    ['an id of 40 digits', b64(`v1:id:${'9'.repeat(40)}`)],
    ['a decimal point', b64('v1:id:1.5')],
    ['extra fields', b64('v1:id:1:2')],
    ['a missing id', b64('v1:id:')],
    ['a username outside the prefix', b64('v1:name:ab:zz')],
    ['an upper-case prefix', b64('v1:name:AB:abc')],
    ['a username with a space', b64('v1:name:a:a b')],
    ['a username of 33 characters', b64(`v1:name:a:${'a'.repeat(33)}`)],
    ['non-ASCII bytes', Buffer.from([0x76, 0x31, 0x3a, 0xff]).toString('base64url')],
    ['JSON', b64('{"after":1}')],
    ['the word null', 'null'],
  ])('should refuse %s', (_name, cursor) => {
    expect(decodeCursor(cursor)).toBeNull();
  });
});
