/**
 * A user's own account changes on the real stack, over MariaDB + Redis and
 * over the embedded default (SQLite, no cache): answers checked against the
 * OpenAPI document, sessions and logins checked after each change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { PASSWORD_RULE } from '../src/wire/account-rules.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { png } from './support/images.ts';
import { expectDescribed } from './support/openapi.ts';

interface Answer {
  token: string;
  user: { id: string; username: string; picture_url: string | null };
  error: { code: string; message: string; field?: string; fields?: Record<string, string> };
}

const PASSWORD = 'the first passphrase';
const NEW_PASSWORD = 'a second passphrase';
/** Few attempts and a long wait past them, so that the throttle shows within a test. */
const LIMITS = {
  RATE_LIMIT_USER_ATTEMPTS: '3',
  RATE_LIMIT_USER_DELAY_MS: '60000',
  ADMIN_TOKEN: 'admin-token-of-this-test-'.padEnd(40, 'x'),
};
const adminInit = (method: string, body?: unknown): RequestInit => ({
  method,
  headers: { authorization: `Bearer ${LIMITS.ADMIN_TOKEN}`, 'content-type': 'application/json' },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

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

    const bearerInit = (token: string, method = 'GET'): RequestInit => ({
      method,
      headers: { authorization: `Bearer ${token}` },
    });

    function changePassword(auth: Record<string, string>, body: unknown) {
      return stack().fetch('/api/v1/me/password', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify(body),
      });
    }

    async function upload(token: string, image: Uint8Array<ArrayBuffer>): Promise<string> {
      const res = await stack().fetch('/api/v1/me/picture', {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
        body: image,
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as Answer).user.picture_url as string;
    }

    /** The picture's files, once every background removal has finished. */
    async function pictureFiles(url: string): Promise<string[]> {
      await stack().tcp.pictures.settled();
      const name = url.slice('/pictures/'.length, -'.webp'.length);
      const dir = join(stack().config.dataDir, 'pictures');
      if (!existsSync(dir)) return [];
      return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) =>
        file.includes(name),
      );
    }

    function deleteAccount(token: string, body: unknown) {
      return stack().fetch('/api/v1/me', jsonInit('DELETE', body, token));
    }

    it('should delete the account with its sessions and picture, and free the username', async () => {
      const username = uniqueName();
      await register(username);
      const [token, other] = [await session(username), await session(username)];
      const url = await upload(token, await png(120, 90));
      expect(await pictureFiles(url)).toHaveLength(2);
      const id = ((await (await stack().fetch('/api/v1/me', bearerInit(token))).json()) as Answer)
        .user.id;

      const res = await stack().fetch('/api/v1/me', {
        ...jsonInit('DELETE', { password: PASSWORD }),
        headers: { 'content-type': 'application/json', cookie: `session=${token}` },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('set-cookie')).toContain('Max-Age=0');
      await expectDescribed('delete', '/api/v1/me', res);

      expect(await meStatus(bearerInit(token))).toBe(401);
      expect(await meStatus(bearerInit(other))).toBe(401);
      expect((await login(username, PASSWORD)).status).toBe(401);
      expect(await pictureFiles(url)).toEqual([]);
      expect((await stack().fetch(url)).status).toBe(404);

      // The admin API no longer finds it, and still works: the name is free at once,
      // and the old token does not carry over to the new account of that name.
      expect((await stack().fetch(`/users/${id}`, adminInit('GET'))).status).toBe(404);
      const created = await stack().fetch(
        '/users',
        adminInit('POST', { username, password: NEW_PASSWORD }),
      );
      expect(created.status).toBe(201);
      expect(((await created.json()) as Answer).user.id).not.toBe(id);
      expect(await meStatus(bearerInit(token))).toBe(401);
      expect(await meStatus(bearerInit(await session(username, NEW_PASSWORD)))).toBe(200);

      const audit = setup.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.audit === 'account' && line.username === username);
      expect(audit).toMatchObject([{ action: 'delete-account', result: 'OK', userId: id }]);
    });

    it('should refuse to delete an account with a wrong password, and keep everything', async () => {
      const username = uniqueName();
      await register(username);
      const token = await session(username);
      const wrong = await deleteAccount(token, { password: 'not the password' });
      expect(wrong.status).toBe(401);
      expect(((await expectDescribed('delete', '/api/v1/me', wrong)) as Answer).error.code).toBe(
        'UNAUTHENTICATED',
      );
      const missing = await deleteAccount(token, {});
      expect(missing.status).toBe(400);
      await expectDescribed('delete', '/api/v1/me', missing);
      expect(await meStatus(bearerInit(token))).toBe(200);
      expect((await login(username, PASSWORD)).status).toBe(200);
    });

    it("should remove a deleted account's picture and keep another account's of the same image, until it is removed", async () => {
      const [first, second] = [uniqueName(), uniqueName()];
      await register(first);
      await register(second);
      const [a, b] = [await session(first), await session(second)];
      const image = await png(100, 100);
      const gone = await upload(a, image);
      // Names are random per upload: the same image is two pictures.
      const url = await upload(b, image);
      expect(url).not.toBe(gone);

      expect((await deleteAccount(a, { password: PASSWORD })).status).toBe(204);
      expect(await pictureFiles(gone)).toEqual([]);
      expect((await stack().fetch(gone)).status).toBe(404);
      expect(await pictureFiles(url)).toHaveLength(2);
      expect((await stack().fetch(url)).status).toBe(200);

      const removed = await stack().fetch('/api/v1/me/picture', bearerInit(b, 'DELETE'));
      expect(removed.status).toBe(200);
      const body = (await expectDescribed('delete', '/api/v1/me/picture', removed)) as Answer;
      expect(body.user).toMatchObject({ username: second, picture_url: null });
      expect(await pictureFiles(url)).toEqual([]);
      expect((await stack().fetch(url)).status).toBe(404);
      const me = (await (await stack().fetch('/api/v1/me', bearerInit(b))).json()) as Answer;
      expect(me.user.picture_url).toBeNull();

      // Removing again leaves no picture and is no error; without a session it is 401.
      expect((await stack().fetch('/api/v1/me/picture', bearerInit(b, 'DELETE'))).status).toBe(200);
      const anonymous = await stack().fetch('/api/v1/me/picture', { method: 'DELETE' });
      expect(anonymous.status).toBe(401);
      await expectDescribed('delete', '/api/v1/me/picture', anonymous);
    });

    it('should change the password, end every other session, and log in only with the new one', async () => {
      const username = uniqueName();
      await register(username);
      const [mine, other] = [await session(username), await session(username)];

      const res = await changePassword(
        { authorization: `Bearer ${mine}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(res.status).toBe(200);
      // A bearer client gets no session cookie (it did not come with one), only the new
      // device cookie, as a login gives one to API clients too.
      const cookies = res.headers.getSetCookie();
      expect(cookies.map((c) => c.split('=')[0])).toEqual(['device']);
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

    it('should let one of two password changes at once land, and tell the other its session ended', async () => {
      // Two sessions, each with the current password, each choosing a new one: both were
      // answered 200, one password was lost, and its client kept a session under a
      // password it did not know (an integrity audit).
      for (let round = 0; round < 3; round++) {
        const username = uniqueName();
        await register(username);
        const tokens = [await session(username), await session(username)];
        const passwords = ['a new passphrase one', 'a new passphrase two'];
        const answers = await Promise.all(
          tokens.map((token, i) =>
            changePassword(
              { authorization: `Bearer ${token}` },
              { current_password: PASSWORD, new_password: passwords[i] },
            ),
          ),
        );
        const statuses = answers.map((res) => res.status);
        expect([round, [...statuses].sort()]).toEqual([round, [200, 401]]);
        const won = statuses.indexOf(200);
        const lost = 1 - won;
        const bodies = (await Promise.all(answers.map((res) => res.json()))) as Answer[];
        expect(bodies[lost]?.error.code).toBe('UNAUTHENTICATED');
        expect(bodies[lost]?.error.field).toBeUndefined();
        expect(await meStatus(bearerInit(bodies[won]?.token as string))).toBe(200);
        for (const token of tokens) expect(await meStatus(bearerInit(token))).toBe(401);
        expect((await login(username, passwords[lost] as string)).status).toBe(401);
        expect((await login(username, passwords[won] as string)).status).toBe(200);
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

    it('should refuse a wrong current password with 401 and count it against the session: locked after the limit, the username untouched', async () => {
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
      // The session used up its own attempts: a stolen one is no free password oracle.
      const refused = await changePassword(
        { authorization: `Bearer ${token}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(refused.status).toBe(429);
      await expectDescribed('put', '/api/v1/me/password', refused);
      // Nor does a login that shows the locked session get more guesses than a stranger.
      const guessed = await stack().fetch('/open_api/v1/authenticate', {
        ...jsonInit('POST', { username, password: 'wrong guess 4' }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      expect(guessed.status).toBe(401);
      // The username was not counted: its owner logs in elsewhere as before.
      expect((await login(username, PASSWORD)).status).toBe(200);
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

    it('should let the owner change the password and delete the account with a session while strangers keep the username throttled', async () => {
      const username = uniqueName();
      await register(username);
      const token = await session(username);
      for (let i = 0; i < 4; i++) await login(username, `a stranger's guess ${i}`);
      expect((await login(username, PASSWORD)).status).toBe(429);
      const changed = await changePassword(
        { authorization: `Bearer ${token}` },
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
      );
      expect(changed.status).toBe(200);
      const renewed = ((await changed.json()) as Answer).token;
      expect((await deleteAccount(renewed, { password: NEW_PASSWORD })).status).toBe(204);
    });

    it('should count the wrong passwords of a login that shows a session against that session once the username is throttled', async () => {
      const username = uniqueName();
      await register(username);
      const token = await session(username);
      for (let i = 0; i < 4; i++) await login(username, `a stranger's guess ${i}`);
      const withSession = (password: string) =>
        stack().fetch('/open_api/v1/authenticate', {
          ...jsonInit('POST', { username, password }),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        });
      // The session passes the username's throttle, but its guesses count: three, then locked.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await withSession(`a thief's guess ${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      expect((await withSession(PASSWORD)).status).toBe(429);
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

      // The same password again: refused before any hash, the other sessions kept.
      const other = await session(username);
      const hashes = stack().tcp.passwords.counts.verify;
      const same = await changePassword(
        { authorization: `Bearer ${token}` },
        { current_password: PASSWORD, new_password: PASSWORD },
      );
      expect(same.status).toBe(400);
      expect(((await expectDescribed('put', '/api/v1/me/password', same)) as Answer).error).toEqual(
        {
          code: 'INVALID_ARGUMENT',
          message: 'the new password is the one you have now: choose another',
          field: 'new_password',
          fields: { new_password: 'the new password is the one you have now: choose another' },
        },
      );
      expect(stack().tcp.passwords.counts.verify).toBe(hashes);
      expect(await meStatus(bearerInit(other))).toBe(200);
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
