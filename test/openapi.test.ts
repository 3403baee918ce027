/**
 * The OpenAPI document against the real server: every public operation is
 * called, its answers (successes and the usual refusals) must be ones the
 * document lists, with bodies that fit its schemas. The admin operations
 * are checked the same way in admin-users.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { bearer, jsonInit, type Stack, startStack } from './fixture.ts';
import { expectDescribed, validateOpenApi } from './support/openapi.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

describe('integration: answers match the OpenAPI document', () => {
  it('should describe the accounts API as it answers', async () => {
    const register = (body: unknown) =>
      stack.fetch('/open_api/v1/register', jsonInit('POST', body));
    const credentials = { username: 'documented', password: 'long enough' };
    await expectDescribed('post', '/open_api/v1/register', await register(credentials));
    for (const bad of [credentials, { username: 'x', password: 'long enough' }]) {
      const res = await register(bad);
      expect([400, 409]).toContain(res.status);
      await expectDescribed('post', '/open_api/v1/register', res);
    }
    const formBody = await stack.fetch('/open_api/v1/register', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(formBody.status).toBe(415);
    await expectDescribed('post', '/open_api/v1/register', formBody);

    const login = await stack.fetch('/open_api/v1/authenticate', jsonInit('POST', credentials));
    const { token } = (await expectDescribed('post', '/open_api/v1/authenticate', login)) as {
      token: string;
    };
    const wrong = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { ...credentials, password: 'wrong password' }),
    );
    expect(wrong.status).toBe(401);
    await expectDescribed('post', '/open_api/v1/authenticate', wrong);

    await expectDescribed('get', '/api/v1/me', await stack.fetch('/api/v1/me', bearer(token)));
    await expectDescribed('get', '/api/v1/me', await stack.fetch('/api/v1/me'));
    const patch = (nickname: unknown) =>
      stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname }, token));
    await expectDescribed('patch', '/api/v1/me', await patch('Ẓoë 🚀'));
    await expectDescribed('patch', '/api/v1/me', await patch(42));
    await expectDescribed(
      'post',
      '/api/v1/logout-all',
      await stack.fetch('/api/v1/logout-all', bearer(token, 'POST')),
    );
    await expectDescribed(
      'post',
      '/api/v1/logout',
      await stack.fetch('/api/v1/logout', bearer(token, 'POST')),
    );
  });

  it('should describe the operational routes as they answer', async () => {
    await expectDescribed('get', '/healthz', await stack.fetch('/healthz'));
    await expectDescribed('get', '/readyz', await stack.fetch('/readyz'));
    const doc = (await expectDescribed(
      'get',
      '/openapi.json',
      await stack.fetch('/openapi.json'),
    )) as { openapi: string; servers: { url: string }[] };
    expect(doc.openapi).toBe('3.1.0');
    // Valid by the official OpenAPI 3.1 schema, with the server it came from.
    expect(await validateOpenApi(doc)).toEqual([]);
    const fetchedFrom = new URL('/openapi.json', stack.url);
    expect(new URL(doc.servers[0]?.url ?? '', fetchedFrom).href).toBe(stack.url);
    await stack.tcp.server.stop(1000);
    const notReady = await stack.fetch('/readyz');
    expect(notReady.status).toBe(503);
    await expectDescribed('get', '/readyz', notReady);
  });
});
