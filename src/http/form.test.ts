import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { readForm } from './form.ts';

const app = new Hono()
  .post('/', async (c) => c.json(await readForm(c)))
  .onError((err, c) => c.json({ error: err instanceof RpcError ? err.message : 'other' }, 400));

async function read(body: BodyInit, type = 'application/x-www-form-urlencoded') {
  const res = await app.request('/', { method: 'POST', headers: { 'content-type': type }, body });
  return res.json();
}

describe('unit: readForm', () => {
  it('should parse urlencoded bodies as the URL standard does', async () => {
    expect(await read('a=1+2&b=%E2%9C%93%20ok&&c&d=100%&e=%ZZ%4&f=x=y&%C3%A9=%EF%BF%BD')).toEqual({
      a: '1 2',
      b: '✓ ok',
      c: '',
      d: '100%',
      e: '%ZZ%4',
      f: 'x=y',
      é: '\uFFFD',
    });
    expect(await read('')).toEqual({});
    expect(await read(new Uint8Array([0x6e, 0x3d, 0xc3, 0xa9]))).toEqual({ n: 'é' });
  });

  // An attack audit: two nicknames made one of them count, and `__proto__` twice gave the
  // fields an array for a prototype.
  it('should refuse a name sent twice, and take __proto__ as a name like any other', async () => {
    for (const body of ['nickname=A&nickname=B', '__proto__=a&__proto__=b', 'a=1&b=2&a=1']) {
      expect(await read(body)).toEqual({ error: MESSAGES.FORM_FIELD_TWICE });
    }
    const fields = (await read('__proto__=x&constructor=y&toString=z')) as Record<string, string>;
    expect(Object.entries(fields)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
      ['toString', 'z'],
    ]);
  });

  it.each([
    ['raw bytes that are not UTF-8', new Uint8Array([0x6e, 0x3d, 0xff, 0xfe])],
    ['escapes that are not UTF-8', 'n=%FF%FE'],
    ['an escaped UTF-8 surrogate', 'n=%ED%A0%80'],
    ['a truncated escaped sequence', 'n=%E2%9C'],
    ['a bad escape in a name', '%C3=1'],
  ])('should refuse %s', async (_name, body) => {
    expect(await read(body)).toEqual({ error: 'the form is not valid UTF-8' });
  });

  it('should refuse a multipart text part that was not UTF-8', async () => {
    const body = new Uint8Array([
      ...new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="n"\r\n\r\nab'),
      0xff,
      ...new TextEncoder().encode('\r\n--b--\r\n'),
    ]);
    expect(await read(body, 'multipart/form-data; boundary=b')).toEqual({
      error: 'the form is not valid UTF-8',
    });
  });
});
