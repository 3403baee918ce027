import { describe, expect, it } from 'bun:test';
import { RpcError } from '../wire/rpc-error.ts';
import { duplicateKey, readFields, stringField, utf8OrNoCharset } from './json.ts';

const check = (text: string) => duplicateKey(text, JSON.parse(text));

describe('unit: duplicateKey', () => {
  it.each([
    ['{"username":"a","password":"b"}', null],
    ['{"username":"a","password":"b","username":"c"}', 'username'],
    ['{"username":"a","\\u0075sername":"c"}', 'username'],
    ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
    ['{"__proto__":1,"__proto__":2}', '__proto__'],
    // Colons, braces, quotes and commas inside strings are not structure.
    ['{"password":"a:b:c,\\"d\\":{[","username":"x"}', null],
    ['{"password":"a:b","x":"{\\"password\\":1}","password2":":"}', null],
    // Nested objects are never read as fields: their keys do not count.
    ['{"a":{"b":1,"b":2},"c":[{"d":1},{"d":2}]}', null],
    ['{"a":{"b":1},"b":2,"a":3}', 'a'],
    ['{ "a" : 1 , "a" : 2 }', 'a'],
    ['{}', null],
  ])('should find in %s: %p', (text, expected) => {
    expect(check(text)).toBe(expected);
  });
});

describe('unit: readFields', () => {
  it('should name every field at fault in one refusal, and give the values when none is', () => {
    const read = (body: Record<string, unknown>) =>
      readFields({
        username: () => stringField(body, 'username', 8),
        password: () => stringField(body, 'password', 8),
        nickname: () => stringField(body, 'nickname', 8, false),
      });
    expect(read({ username: 'ann', password: 'pw' })).toEqual({
      username: 'ann',
      password: 'pw',
      nickname: '',
    });
    let refused: unknown;
    try {
      read({ username: 123, password: ['x'], nickname: 'x'.repeat(9) });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(RpcError);
    const err = refused as RpcError;
    expect([err.field, ...err.moreFields.map((f) => f.field)]).toEqual([
      'username',
      'password',
      'nickname',
    ]);
  });
});

describe('unit: utf8OrNoCharset', () => {
  it('should take no charset or UTF-8, and refuse any other named anywhere in the type', () => {
    for (const type of [
      'application/json',
      'application/json;',
      'application/json; charset=utf-8',
      'Application/JSON;Charset=UTF-8',
      'application/json; charset="utf-8"',
      'application/json; charset = utf8',
      'application/json; profile=x; charset=utf-8',
      'application/json; charset=US-ASCII',
    ])
      expect([type, utf8OrNoCharset(type)]).toEqual([type, true]);
    for (const type of [
      'application/json; charset=iso-8859-1',
      'application/json; charset=utf-16',
      'application/json; charset="latin1"',
      'application/json; charset=utf-8; charset=utf-16',
      'application/json; profile=x; charset=windows-1252',
      'application/json; charset=',
    ])
      expect([type, utf8OrNoCharset(type)]).toEqual([type, false]);
  });
});
