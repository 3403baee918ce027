/**
 * Two-step login (TOTP) through the JSON API on the real stack, over MariaDB
 * + Redis and over the embedded default (SQLite, no cache): set up, log in
 * with a code, replay refused, recovery codes, the throttle, turning it off,
 * the admin API on the same accounts. Answers are checked against the
 * OpenAPI document. Codes come from the real clock, as an app's do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { base32Decode } from '../src/core/base32.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { expectDescribed } from './support/openapi.ts';
import { awayFromStepEdge, codeOf } from './support/totp.ts';

interface Answer {
  token: string;
  secret: string;
  otpauth_url: string;
  recovery_codes: string[];
  user: { id: string; username: string };
  error: { code: string; message: string; field?: string; fields?: Record<string, string> };
}

const PASSWORD = 'the first passphrase';
const NEW_PASSWORD = 'a second passphrase, longer';
const LIMITS = {
  RATE_LIMIT_USER_ATTEMPTS: '3',
  RATE_LIMIT_USER_DELAY_MS: '60000',
  ADMIN_TOKEN: 'admin-token-of-this-test-'.padEnd(40, 'x'),
};
const admin = (method: string): RequestInit => ({
  method,
  headers: { authorization: `Bearer ${LIMITS.ADMIN_TOKEN}` },
});

let counter = 0;
const uniqueName = () => `tfa_${Date.now().toString(36)}_${counter++}`;

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
  describe(`integration: two-step login on ${name}`, () => {
    const stack = () => setup.stack as Stack;

    async function login(username: string, password: string, otp?: string) {
      const body = otp === undefined ? { username, password } : { username, password, otp };
      const res = await stack().fetch('/open_api/v1/authenticate', jsonInit('POST', body));
      const answer = (await expectDescribed('post', '/open_api/v1/authenticate', res)) as Answer;
      return { status: res.status, body: answer };
    }

    /** A new account with two-step login on, confirmed with the previous step's code. */
    async function enrolled() {
      await awayFromStepEdge();
      const username = uniqueName();
      const register = await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      expect(register.status).toBe(200);
      const { body } = await login(username, PASSWORD);
      const token = body.token;
      const start = await stack().fetch('/api/v1/me/totp', jsonInit('POST', {}, token));
      const { secret, otpauth_url } = (await expectDescribed(
        'post',
        '/api/v1/me/totp',
        start,
      )) as Answer;
      const code = (offset = 0) => codeOf(secret, offset);
      // One step back (drift), so that this step and the next are free for logins.
      const confirm = await stack().fetch(
        '/api/v1/me/totp/confirm',
        jsonInit('POST', { code: code(-1), password: PASSWORD }, token),
      );
      expect(confirm.status).toBe(200);
      const { recovery_codes } = (await expectDescribed(
        'post',
        '/api/v1/me/totp/confirm',
        confirm,
      )) as Answer;
      return { username, token, secret, otpauth_url, code, recovery: recovery_codes };
    }

    /** The id of the session's user, from its profile. */
    const idOf = async (token: string) =>
      (
        (await (
          await stack().fetch('/api/v1/me', jsonInit('GET', undefined, token))
        ).json()) as Answer
      ).user.id;

    const auditOf = (username: string) =>
      setup.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.audit === 'account' && line.username === username)
        .map(({ action, result }) => `${action} ${result}`);

    it('should set up with a first code, then ask for a code after the right password only', async () => {
      const { username, token, secret, otpauth_url, code, recovery } = await enrolled();
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(otpauth_url).toBe(
        `otpauth://totp/usermgr:${username}?secret=${secret}&issuer=usermgr&algorithm=SHA1&digits=6&period=30`,
      );
      expect(recovery).toHaveLength(10);

      const required = await login(username, PASSWORD);
      expect(required.status).toBe(401);
      expect(required.body.error).toMatchObject({ code: 'OTP_REQUIRED', field: 'otp' });
      // A wrong password is just a wrong password, code or not, as for an unknown user.
      const unknown = await login(`${username}_x`, 'wrong passphrase');
      for (const otp of [undefined, code()]) {
        const wrong = await login(username, 'wrong passphrase', otp);
        expect(wrong.status).toBe(401);
        expect(wrong.body).toEqual(unknown.body);
      }
      const ok = await login(username, PASSWORD, code());
      expect(ok.status).toBe(200);
      expect(
        (await stack().fetch('/api/v1/me', jsonInit('GET', undefined, ok.body.token))).status,
      ).toBe(200);
      // Setting up again while on is refused, clearly.
      const again = await stack().fetch('/api/v1/me/totp', jsonInit('POST', {}, token));
      expect(again.status).toBe(409);
      expect(
        ((await expectDescribed('post', '/api/v1/me/totp', again)) as Answer).error.message,
      ).toBe('two-step login is already on: turn it off first to set it up again');
      expect(auditOf(username)).toEqual([
        'totp-start OK',
        'totp-confirm OK',
        'two-step-login OK',
        'totp-start ALREADY_EXISTS',
      ]);
      const log = setup.lines.join('\n');
      for (const secretText of [secret, PASSWORD, ...recovery])
        expect(log).not.toContain(secretText);
    });

    it('should take a code once: the same code again and an older one are refused', async () => {
      const { username, code } = await enrolled();
      const now = code();
      expect((await login(username, PASSWORD, now)).status).toBe(200);
      const replay = await login(username, PASSWORD, now);
      expect(replay.status).toBe(401);
      expect(replay.body.error.code).toBe('OTP_REQUIRED');
      expect((await login(username, PASSWORD, code(-1))).status).toBe(401);
      // The next step's code (a phone a little ahead) still works, once.
      expect((await login(username, PASSWORD, code(1))).status).toBe(200);
      expect((await login(username, PASSWORD, code(1))).status).toBe(401);
    });

    it('should accept one code once when it is sent many times at once', async () => {
      const { username, code } = await enrolled();
      const otp = code();
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => login(username, PASSWORD, otp)),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      // The others: the code was used (401), or the throttle held them back (429).
      for (const status of statuses.filter((s) => s !== 200)) expect([401, 429]).toContain(status);
    });

    it('should take each recovery code once, in the otp field, typed any way', async () => {
      const { username, recovery } = await enrolled();
      const [first = '', second = ''] = recovery;
      expect((await login(username, PASSWORD, first)).status).toBe(200);
      expect((await login(username, PASSWORD, first)).status).toBe(401);
      expect(
        (await login(username, PASSWORD, second.toUpperCase().replaceAll('-', ''))).status,
      ).toBe(200);
      expect(auditOf(username).slice(-3)).toEqual([
        'recovery-code-login OK',
        'two-step-login OTP_REQUIRED',
        'recovery-code-login OK',
      ]);
    });

    it('should count wrong codes like wrong passwords: three, and even the right code waits', async () => {
      const { username, code } = await enrolled();
      for (const wrong of ['000000', '111111', 'aaaa-bbbb-cccc-dddd']) {
        const res = await login(username, PASSWORD, wrong === code() ? '222222' : wrong);
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('OTP_REQUIRED');
      }
      const held = await login(username, PASSWORD, code());
      expect(held.status).toBe(429);
    });

    // Regression (an attack audit): someone who knew only the password ran up the user's
    // count of codes, and the owner's own device was refused for minutes with it.
    it("should let in the owner's device that passed a code before, however many wrong codes others sent", async () => {
      const { username, code, recovery } = await enrolled();
      const first = await stack().fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password: PASSWORD, otp: code() }),
      );
      expect(first.status).toBe(200);
      const device = (
        first.headers.getSetCookie().find((c) => c.startsWith('device=')) ?? ''
      ).split(';')[0] as string;
      expect(device).toStartWith('device=');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(username, PASSWORD, '000000')).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      const withDevice = (otp: string) => {
        const init = jsonInit('POST', { username, password: PASSWORD, otp });
        const headers = { ...(init.headers as Record<string, string>), cookie: device };
        return stack().fetch('/open_api/v1/authenticate', { ...init, headers });
      };
      expect((await withDevice(recovery[0] as string)).status).toBe(200);
      // Without the device: still held by the user's count.
      expect((await login(username, PASSWORD, recovery[1] as string)).status).toBe(429);
    });

    it('should turn off only with the password and a code, after which the password is enough', async () => {
      const { username, token, code } = await enrolled();
      const off = (body: unknown) =>
        stack().fetch('/api/v1/me/totp', jsonInit('DELETE', body, token));
      const wrongPassword = await off({ password: 'wrong passphrase', code: code() });
      expect(wrongPassword.status).toBe(401);
      expect(
        ((await expectDescribed('delete', '/api/v1/me/totp', wrongPassword)) as Answer).error,
      ).toMatchObject({
        code: 'UNAUTHENTICATED',
        field: 'password',
      });
      const wrongCode = await off({ password: PASSWORD, code: '000000' });
      expect(wrongCode.status).toBe(401);
      expect(((await wrongCode.json()) as Answer).error.field).toBe('code');
      const missing = await off({ password: PASSWORD });
      expect(missing.status).toBe(400);
      await expectDescribed('delete', '/api/v1/me/totp', missing);
      const done = await off({ password: PASSWORD, code: code() });
      expect(done.status).toBe(204);
      await expectDescribed('delete', '/api/v1/me/totp', done);
      expect((await login(username, PASSWORD)).status).toBe(200);
      const already = await off({ password: PASSWORD, code: code(1) });
      expect(already.status).toBe(404);
      await expectDescribed('delete', '/api/v1/me/totp', already);
      expect(auditOf(username).slice(-4)).toEqual([
        'totp-disable UNAUTHENTICATED',
        'totp-disable UNAUTHENTICATED',
        'totp-disable OK',
        'totp-disable NOT_FOUND',
      ]);
    });

    it('should ask for a code to change the password or delete the account, a wrong one counted', async () => {
      const { username, token, code, recovery } = await enrolled();
      const change = (body: Record<string, string>) =>
        stack().fetch(
          '/api/v1/me/password',
          jsonInit(
            'PUT',
            { current_password: PASSWORD, new_password: NEW_PASSWORD, ...body },
            token,
          ),
        );
      const missing = await change({});
      expect(missing.status).toBe(401);
      expect(
        ((await expectDescribed('put', '/api/v1/me/password', missing)) as Answer).error,
      ).toMatchObject({ code: 'OTP_REQUIRED', field: 'code' });
      const wrong = await change({ code: '000000' });
      expect(wrong.status).toBe(401);
      expect(
        ((await expectDescribed('put', '/api/v1/me/password', wrong)) as Answer).error,
      ).toMatchObject({ code: 'UNAUTHENTICATED', field: 'code' });
      // Still the old password: it is right, and a code is asked for.
      expect((await login(username, PASSWORD)).body.error.code).toBe('OTP_REQUIRED');
      const changed = await change({ code: code() });
      expect(changed.status).toBe(200);
      const fresh = ((await expectDescribed('put', '/api/v1/me/password', changed)) as Answer)
        .token;

      const remove = (body: Record<string, string>) =>
        stack().fetch('/api/v1/me', jsonInit('DELETE', { password: NEW_PASSWORD, ...body }, fresh));
      const noCode = await remove({});
      expect(noCode.status).toBe(401);
      expect(
        ((await expectDescribed('delete', '/api/v1/me', noCode)) as Answer).error,
      ).toMatchObject({ code: 'OTP_REQUIRED', field: 'code' });
      expect((await remove({ code: '000000' })).status).toBe(401);
      const gone = await remove({ code: recovery[0] as string });
      expect(gone.status).toBe(204);
      await expectDescribed('delete', '/api/v1/me', gone);
      expect((await login(username, NEW_PASSWORD)).status).toBe(401);
      expect(auditOf(username).slice(-6)).toEqual([
        'change-password OTP_REQUIRED',
        'change-password UNAUTHENTICATED',
        'change-password OK',
        'delete-account OTP_REQUIRED',
        'delete-account UNAUTHENTICATED',
        'delete-account OK',
      ]);
    });

    it('should keep the secret sealed in the store and the cache', async () => {
      const { username, secret } = await enrolled();
      const row = await stack().tcp.store.findByUsername(username);
      const bytes = Buffer.from(base32Decode(secret) as Uint8Array);
      for (const shown of [secret, bytes.toString('base64url'), bytes.toString('hex')]) {
        expect(row?.totpSecret).not.toContain(shown);
      }
      const cache = stack().tcp.cache;
      expect(cache === null).toBe(name === 'the embedded default');
      if (cache === null) return;
      // The set-up left a tombstone; without it the next login caches the record.
      const key = `u:${username.toLowerCase()}`;
      await cache.del([key]);
      expect((await login(username, PASSWORD)).status).toBe(401);
      let cached: Uint8Array | null = null;
      for (let i = 0; i < 100 && cached === null; i++) {
        cached = await cache.get(key);
        if (cached === null) await Bun.sleep(10);
      }
      const value = Buffer.from(cached ?? new Uint8Array());
      expect(value.includes(row?.totpSecret ?? '?')).toBe(true);
      expect(value.includes(bytes)).toBe(false);
      expect(value.includes(secret)).toBe(false);
    });

    it('should leave the admin API working on such accounts, and take the second step away with a deleted one', async () => {
      const { username, code } = await enrolled();
      const me = await login(username, PASSWORD, code());
      const id = await idOf(me.body.token);
      const read = await stack().fetch(`/users/${id}`, admin('GET'));
      expect(read.status).toBe(200);
      expect(JSON.stringify(await read.json())).not.toContain('totp');
      expect((await stack().fetch(`/users/${id}`, admin('DELETE'))).status).toBe(204);
      expect(await stack().tcp.store.findById(id)).toBeNull();
      // The same name registered again is a new account, without a second step.
      await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      expect((await login(username, PASSWORD)).status).toBe(200);
    });

    it('should let the admin API turn it off for a user who lost the authenticator, and only off', async () => {
      const { username, code } = await enrolled();
      const me = await login(username, PASSWORD, code());
      const id = await idOf(me.body.token);
      const put = (two_step: unknown) =>
        stack().fetch(`/users/${id}`, {
          ...admin('PUT'),
          headers: { ...admin('PUT').headers, 'content-type': 'application/json' },
          body: JSON.stringify({ two_step }),
        });
      const read = await stack().fetch(`/users/${id}`, admin('GET'));
      expect(((await expectDescribed('get', '/users/{id}', read)) as Answer).user).toMatchObject({
        username,
        two_step: true,
      });
      const on = await put(true);
      expect(on.status).toBe(400);
      expect(((await on.json()) as Answer).error).toMatchObject({ field: 'two_step' });
      expect((await login(username, PASSWORD)).body.error.code).toBe('OTP_REQUIRED');
      const off = await put(false);
      expect(((await expectDescribed('put', '/users/{id}', off)) as Answer).user).toMatchObject({
        username,
        two_step: false,
      });
      expect(off.status).toBe(200);
      // The password alone is enough now, at once (the cached record went with the change).
      expect((await login(username, PASSWORD)).status).toBe(200);
      // The session of before is still good.
      expect(
        (await stack().fetch('/api/v1/me', jsonInit('GET', undefined, me.body.token))).status,
      ).toBe(200);
    });

    it('should log in a user without a second step as before: from the cache and the memo, no store read', async () => {
      const username = uniqueName();
      await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      const { users, memo, cache } = stack().tcp;
      // Sign-up left a tombstone in the cache (store reads meanwhile, by design): drop it.
      await cache?.del([`u:${username.toLowerCase()}`]);
      expect((await login(username, PASSWORD)).status).toBe(200); // the slow hash, once
      await Bun.sleep(20); // the cache write after a miss is not awaited
      const [reads, hits] = [users.counts.storeReads, memo.counts.hits];
      for (let i = 0; i < 5; i++) expect((await login(username, PASSWORD)).status).toBe(200);
      expect(memo.counts.hits - hits).toBe(5);
      // With Redis, the record comes from the cache; without, one read per login as before.
      expect(users.counts.storeReads - reads).toBe(cache === null ? 5 : 0);
    });

    it('should not turn two-step login on with a session alone: the password is asked with the code, and counted against the session', async () => {
      await awayFromStepEdge();
      const username = uniqueName();
      await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      const { token } = (await login(username, PASSWORD)).body;
      // A secret left pending (by the owner, or by whoever holds the session) and its right code.
      const start = await stack().fetch('/api/v1/me/totp', jsonInit('POST', {}, token));
      const { secret } = (await expectDescribed('post', '/api/v1/me/totp', start)) as Answer;
      const confirm = (body: Record<string, string>) =>
        stack().fetch('/api/v1/me/totp/confirm', jsonInit('POST', body, token));
      const missing = await confirm({ code: codeOf(secret) });
      expect(missing.status).toBe(400);
      expect(
        ((await expectDescribed('post', '/api/v1/me/totp/confirm', missing)) as Answer).error.field,
      ).toBe('password');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await confirm({ code: codeOf(secret), password: `a thief's guess ${i}` });
        await expectDescribed('post', '/api/v1/me/totp/confirm', res);
        statuses.push(res.status);
      }
      // Three wrong passwords lock the session (this test's limit), not the username.
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Two-step login stays off: the owner logs in with the password alone.
      const owner = await login(username, PASSWORD);
      expect(owner.status).toBe(200);
      expect(owner.body.token).toContain('.');
    });

    // Regression (an attack audit): the set-up budget was the user's, so a stolen session
    // starting set-ups in a loop kept its owner from turning two-step on.
    it("should limit set-ups per session: another session's set-ups leave the owner's alone", async () => {
      const username = uniqueName();
      await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      const thief = (await login(username, PASSWORD)).body.token;
      const owner = (await login(username, PASSWORD)).body.token;
      const start = (token: string) =>
        stack().fetch('/api/v1/me/totp', jsonInit('POST', {}, token));
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await start(thief)).status);
      expect(statuses.at(-1)).toBe(429);
      const own = await start(owner);
      expect(own.status).toBe(200);
      await expectDescribed('post', '/api/v1/me/totp', own);
    });

    it('should refuse to set up without a session, and a confirmation without a pending secret', async () => {
      const anonymous = await stack().fetch('/api/v1/me/totp', jsonInit('POST', {}));
      expect(anonymous.status).toBe(401);
      await expectDescribed('post', '/api/v1/me/totp', anonymous);
      const username = uniqueName();
      await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      const { body } = await login(username, PASSWORD);
      const confirm = await stack().fetch(
        '/api/v1/me/totp/confirm',
        jsonInit('POST', { code: '123456', password: PASSWORD }, body.token),
      );
      expect(confirm.status).toBe(404);
      await expectDescribed('post', '/api/v1/me/totp/confirm', confirm);
    });
  });
}
