/**
 * A user's own account changes on the real stack, over MariaDB + Redis and
 * over the embedded default (SQLite, no cache): answers checked against the
 * OpenAPI document, sessions and logins checked after each change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { PASSWORD_RULE } from '../src/wire/account-rules.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { expectDescribed } from './support/openapi.ts';

interface Answer {
  token: string;
  error: { code: string; message: string; field?: string };
}

const PASSWORD = 'the first passphrase';
const NEW_PASSWORD = 'a second passphrase';
/** Few attempts and a long wait past them, so that the throttle shows within a test. */
const LIMITS = { RATE_LIMIT_USER_ATTEMPTS: '3', RATE_LIMIT_USER_DELAY_MS: '60000' };

let counter = 0;
const uniqueName = () => `self_${Date.now().toString(36)}_${counter++}`;

const stacks: Record<string, { stack?: Stack; lines: string[] }> = {
  'MariaDB + Redis': { lines: [] },
  'the embedded default': { lines: [] },
};

beforeAll(async () => {
  const [mysql, embedded] = Object.values(stacks) as [
    { stack?: Stack; lines: string[] },
    { stack?: Stack; lines: string[] },
  ];
  const log = (lines: string[]) =>
    pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  [mysql.stack, embedded.stack] = await Promise.all([
    startStack({ store: 'mysql', redis: true, env: LIMITS, log: log(mysql.lines) }),
    startStack({ env: LIMITS, log: log(embedded.lines) }),
  ]);
});
afterAll(async () => {
  for (const { stack } of Object.values(stacks)) await stack?.stop();
});

for (const [name, setup] of Object.entries(stacks)) {
  describe(`integration: own account changes on ${name}`, () => {
    const stack = () => setup.stack as Stack;

    async function register(username: string) {
      const res = await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      expect(res.status).toBe(200);
    }

    async function login(username: string, password: string) {
      const res = await stack().fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password }),
      );
      return { status: res.status, body: (await res.json()) as Answer };
    }

    async function session(username: string, password = PASSWORD): Promise<string> {
      const { status, body } = await login(username, password);
      expect(status).toBe(200);
      return body.token;
    }

    async function meStatus(init: RequestInit): Promise<number> {
      return (await stack().fetch('/api/v1/me', init)).status;
    }

    const bearerInit = (token: string): RequestInit => ({
      headers: { authorization: `Bearer ${token}` },
    });

    function changePassword(auth: Record<string, string>, body: unknown) {
      return stack().fetch('/api/v1/me/password', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify(body),
      });
    }

    it('should change the password, end every other session, and log in only with the new one', async () => {
      const username = uniqueName();
      await register(username);
      const [mine, other] = [await session(username), await session(username)];

      const res = await changePassword(
        { authorization: `Bearer ${mine}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(res.status).toBe(200);
      // A bearer client gets no cookie: it did not come with one.
      expect(res.headers.get('set-cookie')).toBeNull();
      const { token } = (await expectDescribed('put', '/api/v1/me/password', res)) as Answer;

      expect(await meStatus(bearerInit(mine))).toBe(401);
      expect(await meStatus(bearerInit(other))).toBe(401);
      expect(await meStatus(bearerInit(token))).toBe(200);
      expect((await login(username, PASSWORD)).status).toBe(401);
      expect(await meStatus(bearerInit(await session(username, NEW_PASSWORD)))).toBe(200);

      const audit = setup.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.audit === 'account' && line.username === username);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ action: 'change-password', result: 'OK' });
      const log = setup.lines.join('\n');
      for (const secret of [PASSWORD, NEW_PASSWORD, mine, token]) {
        expect(log).not.toContain(secret);
      }
    });

    it('should give a cookie client its new session as the cookie', async () => {
      const username = uniqueName();
      await register(username);
      const old = await session(username);
      const res = await changePassword(
        { cookie: `session=${old}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as Answer;
      expect(res.headers.get('set-cookie')).toContain(`session=${token};`);
      expect(await meStatus({ headers: { cookie: `session=${old}` } })).toBe(401);
      expect(await meStatus({ headers: { cookie: `session=${token}` } })).toBe(200);
    });

    it('should refuse a wrong current password with 401 and count it like a failed login', async () => {
      const username = uniqueName();
      await register(username);
      const token = await session(username);
      for (let i = 0; i < 3; i++) {
        const res = await changePassword(
          { authorization: `Bearer ${token}` },
          { current_password: `wrong guess ${i}`, new_password: NEW_PASSWORD },
        );
        const body = (await expectDescribed('put', '/api/v1/me/password', res)) as Answer;
        expect(res.status).toBe(401);
        expect(body.error.code).toBe('UNAUTHENTICATED');
      }
      // The three failures used up the username's attempts: login and change both wait.
      expect((await login(username, PASSWORD)).status).toBe(429);
      const refused = await changePassword(
        { authorization: `Bearer ${token}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(refused.status).toBe(429);
      await expectDescribed('put', '/api/v1/me/password', refused);
      // Nothing changed: the session still works, and the audit shows the failures.
      expect(await meStatus(bearerInit(token))).toBe(200);
      const results = setup.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.audit === 'account' && line.username === username)
        .map((line) => line.result);
      expect(results).toEqual([
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
        'RESOURCE_EXHAUSTED',
      ]);
    });

    it('should refuse a new password the rules refuse with 400 naming the rule, changing nothing', async () => {
      const username = uniqueName();
      await register(username);
      const token = await session(username);
      const res = await changePassword(
        { authorization: `Bearer ${token}` },
        { current_password: PASSWORD, new_password: 'short' },
      );
      const body = (await expectDescribed('put', '/api/v1/me/password', res)) as Answer;
      expect(res.status).toBe(400);
      expect(body.error).toMatchObject({ message: PASSWORD_RULE, field: 'new_password' });
      expect(await meStatus(bearerInit(token))).toBe(200);
      expect((await login(username, PASSWORD)).status).toBe(200);

      const missing = await changePassword({ authorization: `Bearer ${token}` }, {});
      expect(missing.status).toBe(400);
      await expectDescribed('put', '/api/v1/me/password', missing);
    });

    it('should refuse a change without a session with 401', async () => {
      const res = await changePassword(
        {},
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(res.status).toBe(401);
      await expectDescribed('put', '/api/v1/me/password', res);
    });
  });
}
