/**
 * The JSON API refuses bad input with a clear 4xx before any work is done.
 * Embedded SQLite: nothing here depends on the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { jsonInit, type Stack, startStack } from './fixture.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

async function post(path: string, init: RequestInit) {
  const res = await stack.fetch(path, { method: 'POST', ...init });
  return {
    status: res.status,
    body: (await res.json()) as { error: { code: string; message: string; field?: string } },
  };
}

const json = { 'content-type': 'application/json' };

describe('integration: API input validation', () => {
  it.each([
    ['malformed JSON', { headers: json, body: '{"username": ' }, 400, 'the body is not valid JSON'],
    ['an array', { headers: json, body: '[]' }, 400, 'the body must be a JSON object'],
    ['null', { headers: json, body: 'null' }, 400, 'the body must be a JSON object'],
    [
      'a missing username',
      { headers: json, body: '{"password":"long enough"}' },
      400,
      'username is required',
    ],
    [
      'a numeric password',
      { headers: json, body: '{"username":"abc","password":12345678}' },
      400,
      'password must be a string',
    ],
    [
      'an object password',
      { headers: json, body: '{"username":"abc","password":{}}' },
      400,
      'password must be a string',
    ],
    [
      'a lone surrogate',
      { headers: json, body: '{"username":"abc","password":"abcdefgh\\ud800"}' },
      400,
      'password must be valid Unicode text',
    ],
    [
      'a 2000-character username',
      {
        headers: json,
        body: JSON.stringify({ username: 'x'.repeat(2000), password: 'long enough' }),
      },
      400,
      'username is too long',
    ],
    [
      'a form body',
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=abc' },
      415,
      'send the body as JSON with Content-Type: application/json',
    ],
    [
      'a 100 KB body',
      { headers: json, body: JSON.stringify({ username: 'abc', password: 'p'.repeat(100_000) }) },
      413,
      'the body is over 16384 bytes',
    ],
  ])('should refuse %s at sign-up', async (_name, init, status, message) => {
    const res = await post('/open_api/v1/register', init as RequestInit);
    expect(res.status).toBe(status);
    expect(res.body.error.message).toBe(message);
  });

  it('should refuse a chunked body once it grows over the limit', async () => {
    const chunk = new TextEncoder().encode(`{"username":"abc","password":"${'p'.repeat(8000)}`);
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(chunk);
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
      },
    });
    const res = await stack.fetch('/open_api/v1/register', { method: 'POST', headers: json, body });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('should name the rule and the field for values the TCP server refuses', async () => {
    const cases = [
      [{ username: 'ab', password: 'long enough' }, 'username'],
      [{ username: 'has space', password: 'long enough' }, 'username'],
      [{ username: 'okname', password: 'short' }, 'password'],
      [{ username: 'okname', password: 'long enough', nickname: 'a\u202Eb' }, 'nickname'],
      [{ username: 'okname', password: 'long enough', nickname: '\u200d' }, 'nickname'],
    ] as const;
    for (const [body, field] of cases) {
      const res = await post('/open_api/v1/register', jsonInit('POST', body));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('INVALID_ARGUMENT');
      expect(res.body.error.field).toBe(field);
    }
  });

  it('should refuse a cross-site POST and accept a same-origin one', async () => {
    const body = JSON.stringify({ username: 'cross_site', password: 'long enough' });
    const cross = await post('/open_api/v1/register', {
      headers: { ...json, origin: 'https://evil.example' },
      body,
    });
    expect(cross.status).toBe(403);
    const fetchSite = await post('/open_api/v1/register', {
      headers: { ...json, 'sec-fetch-site': 'cross-site' },
      body,
    });
    expect(fetchSite.status).toBe(403);
    const same = await post('/open_api/v1/register', {
      headers: { ...json, origin: stack.url.replace(/\/$/, '') },
      body,
    });
    expect(same.status).toBe(200);
  });

  it('should keep spaces and NUL in passwords exactly', async () => {
    for (const [username, password] of [
      ['spaces_pw', '  padded password  '],
      ['nul_pw', 'nul\u0000inside!'],
    ]) {
      expect(
        (await post('/open_api/v1/register', jsonInit('POST', { username, password }))).status,
      ).toBe(200);
      const ok = await post('/open_api/v1/authenticate', jsonInit('POST', { username, password }));
      expect(ok.status).toBe(200);
      const trimmed = await post(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password: (password as string).trim().replace('\u0000', '') }),
      );
      expect(trimmed.status).toBe(401);
    }
  });

  it('should match usernames case-insensitively at login and keep the registered spelling', async () => {
    await post(
      '/open_api/v1/register',
      jsonInit('POST', { username: 'MixedCase', password: 'long enough' }),
    );
    const res = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'mixedcase', password: 'long enough' }),
    );
    const { token } = (await res.json()) as { token: string };
    const me = await stack.fetch('/api/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe('MixedCase');
  });
});
