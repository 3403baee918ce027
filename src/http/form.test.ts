import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
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
    expect(
      await read('a=1+2&b=%E2%9C%93%20ok&&c&a=3&d=100%&e=%ZZ%4&f=x=y&%C3%A9=%EF%BF%BD'),
    ).toEqual({
      a: ['1 2', '3'],
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
