import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { SessionTokens } from '../core/session-tokens.ts';
import { sessionKey, usernameKey } from './affinity-key.ts';
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

describe('unit: ClientRequest routing key', () => {
  const tokens = new SessionTokens(['k'.repeat(32)], 60_000);
  const { token } = tokens.issue(
    { id: '42', username: 'Alice_B', sessionsValidAfterMs: 0 },
    Date.now(),
  );

  it('should route a session-bearing call by the lowercased username of its token', async () => {
    const { value } = await withClient({ authorization: `Bearer ${token}` }, false, (c) => {
      void c.sessionToken;
      return c.callOptions(false);
    });
    expect(value.key).toBe('alice_b');
  });

  it('should leave the key out when nothing read a session, and take an explicit one first', async () => {
    const headers = { authorization: `Bearer ${token}` };
    expect((await withClient(headers, false, (c) => c.callOptions())).value.key).toBeUndefined();
    const explicit = await withClient(headers, false, (c) => {
      void c.sessionToken;
      return c.callOptions(true, usernameKey('Bob'));
    });
    expect(explicit.value.key).toBe('bob');
  });
});

describe('unit: sessionKey', () => {
  it('should read the username of a token of every version, and nothing from other text', () => {
    const tokens = new SessionTokens(['k'.repeat(32)], 60_000);
    const v3 = tokens.issue(
      { id: '7', username: 'MiXeD', sessionsValidAfterMs: 0 },
      Date.now(),
    ).token;
    expect(sessionKey(v3)).toBe('mixed');
    // Version 2: no password mark, so the username's length is at byte 43.
    const v2 = Buffer.alloc(44 + 3);
    v2[0] = 2;
    v2[43] = 3;
    v2.write('Bob', 44, 'latin1');
    expect(sessionKey(`${v2.toString('base64url')}.mac`)).toBe('bob');
    // Version 1: no flags byte either, so the username's length is at byte 42.
    const v1 = Buffer.alloc(43 + 3);
    v1[0] = 1;
    v1[42] = 3;
    v1.write('Eve', 43, 'latin1');
    expect(sessionKey(`${v1.toString('base64url')}.mac`)).toBe('eve');
    for (const text of ['', 'x', '.abc', 'abc.def', `${'a'.repeat(300)}.b`, v3.slice(0, 20)])
      expect(sessionKey(text)).toBeUndefined();
  });
});
