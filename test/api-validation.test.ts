/**
 * What the JSON API accepts at its edges. Every refusal of bad input is a row
 * of the hostile-input table (test/hostile-input.test.ts); these are the
 * answers that must still be yes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { jsonInit, PASSWORD, type Stack, startStack } from './fixture.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const json = { 'content-type': 'application/json' };

describe('integration: API input validation', () => {
  it('should accept a same-origin POST from a browser', async () => {
    const body = JSON.stringify({ username: 'same_site', password: PASSWORD });
    const same = await stack.fetch('/open_api/v1/register', {
      method: 'POST',
      headers: { ...json, origin: stack.url.replace(/\/$/, ''), 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(same.status).toBe(200);
    const noHeaders = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'same_site', password: PASSWORD }),
    );
    expect(noHeaders.status).toBe(200);
  });

  it('should match usernames case-insensitively at login and keep the registered spelling', async () => {
    await stack.fetch(
      '/open_api/v1/register',
      jsonInit('POST', { username: 'MixedCase', password: PASSWORD }),
    );
    const res = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'mixedcase', password: PASSWORD }),
    );
    const { token } = (await res.json()) as { token: string };
    const me = await stack.fetch('/api/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe('MixedCase');
  });
});
