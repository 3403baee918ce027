import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { bearerToken, ClientRequest } from './client-request.ts';

/** Runs `read` on the ClientRequest of one request to a bare app, counting header reads. */
async function withClient<T>(
  headers: Record<string, string>,
  trustProxy: boolean,
  read: (client: ClientRequest) => T,
  url = 'http://example.test/x',
): Promise<{ value: T; headerReads: number }> {
  let value: T | undefined;
  let headerReads = 0;
  const app = new Hono().get('/x', (c) => {
    const original = c.req.header.bind(c.req);
    c.req.header = ((name?: string) => {
      headerReads++;
      return name === undefined ? original() : original(name);
    }) as typeof c.req.header;
    value = read(new ClientRequest(c, 'rid-1', trustProxy));
    return c.text('ok');
  });
  await app.fetch(new Request(url, { headers }));
  return { value: value as T, headerReads };
}

describe('unit: ClientRequest', () => {
  it('should parse only a well-formed bearer header', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc  ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBe('');
    expect(bearerToken('Bearer a b')).toBe('');
    expect(bearerToken(undefined)).toBe('');
  });

  it('should take the session token from the bearer header before the cookie', async () => {
    const both = { authorization: 'Bearer from-header', cookie: 'session=from-cookie' };
    expect((await withClient(both, false, (c) => c.sessionToken)).value).toBe('from-header');
    const cookie = { cookie: 'session=from-cookie' };
    expect((await withClient(cookie, false, (c) => c.sessionToken)).value).toBe('from-cookie');
    // Over HTTPS only the __Host- cookie counts: a sibling host could have set the other.
    const https = { cookie: 'session=plain; __Host-session=prefixed' };
    const over = await withClient(https, false, (c) => c.sessionToken, 'https://example.test/x');
    expect(over.value).toBe('prefixed');
  });

  it('should believe forwarded headers only with a trusted proxy', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '1.2.3.4, 10.0.0.9' };
    const read = (c: ClientRequest) => ({ https: c.https, ip: c.ip });
    expect((await withClient(forwarded, true, read)).value).toEqual({
      https: true,
      ip: '10.0.0.9',
    });
    // Not behind a proxy: the socket's peer (none under app.fetch) and plain HTTP.
    expect((await withClient(forwarded, false, read)).value).toEqual({ https: false, ip: '' });
  });

  it('should work each value out once per request', async () => {
    const headers = { authorization: 'Bearer t', 'x-forwarded-for': '10.0.0.9' };
    const { value, headerReads } = await withClient(headers, true, (c) => {
      for (let i = 0; i < 5; i++) {
        void c.sessionToken;
        void c.https;
        c.callOptions();
      }
      return c.callOptions();
    });
    expect(value).toEqual({
      requestId: 'rid-1',
      clientIp: '10.0.0.9',
      signal: expect.any(AbortSignal),
    });
    // authorization, x-forwarded-proto and x-forwarded-for, each read once.
    expect(headerReads).toBe(3);
  });

  it('should not look up the client address for calls that do not use it', async () => {
    const { value, headerReads } = await withClient({ 'x-forwarded-for': '10.0.0.9' }, true, (c) =>
      c.callOptions(false),
    );
    expect(value).toEqual({ requestId: 'rid-1', clientIp: '', signal: expect.any(AbortSignal) });
    expect(headerReads).toBe(0);
  });
});
