/**
 * Two-step login and the list of sessions together, on the real stack over
 * MariaDB + Redis and over the embedded default: a user with two-step login
 * ticks "Keep me logged in" on the login page, gives the code on the second
 * step, and gets the lasting cookie; that session is on the list, as the one
 * of the request and as kept. Without the tick, the second step gives a
 * browser-session cookie. The profile page shows both sections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { jsonInit, PASSWORD, type Stack, startStack } from './fixture.ts';
import { expectDescribed } from './support/openapi.ts';
import { awayFromStepEdge, codeOf } from './support/totp.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
/** SESSION_REMEMBER_TTL_S's default: 30 days. */
const THIRTY_DAYS_S = 30 * 24 * 3600;

interface Listed {
  id: string;
  browser: string | null;
  created_at: string;
  expires_at: string;
  current: boolean;
  remember: boolean;
}

const stacks: Record<string, { stack?: Stack }> = {
  'MariaDB + Redis': {},
  'the embedded default': {},
};

beforeAll(async () => {
  const [mysql, embedded] = Object.values(stacks) as [{ stack?: Stack }, { stack?: Stack }];
  [mysql.stack, embedded.stack] = await Promise.all([
    startStack({ store: 'mysql', redis: true }),
    startStack(),
  ]);
}, 30_000);
afterAll(async () => {
  for (const { stack } of Object.values(stacks)) await stack?.stop();
});

let counter = 0;
const uniqueName = () => `tss_${Date.now().toString(36)}_${counter++}`;

const form = (fields: Record<string, string>, cookie = ''): RequestInit => ({
  method: 'POST',
  redirect: 'manual',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': FIREFOX,
    ...(cookie === '' ? {} : { cookie }),
  },
  body: new URLSearchParams(fields).toString(),
});

/** The `name=value` of a Set-Cookie line of this name, and the whole line. */
function setCookie(res: Response, name: string): { pair: string; line: string } {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`)) ?? '';
  return { pair: line.split(';')[0] ?? '', line };
}

for (const [name, setup] of Object.entries(stacks)) {
  describe(`integration: two-step login and the list of sessions on ${name}`, () => {
    const stack = () => setup.stack as Stack;

    /** A new account with two-step login on (confirmed with the previous step's code). */
    async function enrolled() {
      await awayFromStepEdge();
      const username = uniqueName();
      const register = await stack().fetch(
        '/open_api/v1/register',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      expect(register.status).toBe(200);
      const login = await stack().fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password: PASSWORD }),
      );
      const { token } = (await login.json()) as { token: string };
      const start = await stack().fetch('/api/v1/me/totp', jsonInit('POST', {}, token));
      const { secret } = (await start.json()) as { secret: string };
      const confirm = await stack().fetch(
        '/api/v1/me/totp/confirm',
        jsonInit('POST', { code: codeOf(secret, -1), password: PASSWORD }, token),
      );
      expect(confirm.status).toBe(200);
      return { username, secret };
    }

    /** The login page's two steps; answers the response of the second. */
    async function pageLogin(username: string, code: string, remember: boolean) {
      const first = await stack().fetch(
        '/login',
        form({ username, password: PASSWORD, ...(remember ? { remember: 'yes' } : {}) }),
      );
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toBe('/login/code');
      // The password alone starts no session.
      expect(setCookie(first, 'session').line).toBe('');
      const step = setCookie(first, 'login-step').pair;
      expect(step).not.toBe('login-step=');
      const page = await stack().fetch('/login/code', { headers: { cookie: step } });
      expect(page.status).toBe(200);
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      expect(csrf).not.toBe('');
      const second = await stack().fetch('/login/code', form({ csrf, code }, step));
      expect(second.status).toBe(303);
      expect(second.headers.get('location')).toBe('/profile');
      return second;
    }

    async function listed(cookie: string): Promise<Listed[]> {
      const res = await stack().fetch('/api/v1/me/sessions', { headers: { cookie } });
      expect(res.status).toBe(200);
      return ((await expectDescribed('get', '/api/v1/me/sessions', res)) as { sessions: Listed[] })
        .sessions;
    }

    it('should keep "keep me logged in" through the second step: a 30-day cookie, on the list', async () => {
      const { username, secret } = await enrolled();
      const kept = await pageLogin(username, codeOf(secret), true);
      const { pair, line } = setCookie(kept, 'session');
      const maxAge = Number(/Max-Age=(\d+)/.exec(line)?.[1]);
      expect(maxAge).toBeGreaterThan(THIRTY_DAYS_S - 60);
      expect(maxAge).toBeLessThanOrEqual(THIRTY_DAYS_S);

      const sessions = await listed(pair);
      const current = sessions.find((s) => s.current);
      expect(current).toMatchObject({ remember: true, browser: 'Firefox 128' });
      const lifetimeS =
        (Date.parse(current?.expires_at ?? '') - Date.parse(current?.created_at ?? '')) / 1000;
      expect(lifetimeS).toBeGreaterThan(THIRTY_DAYS_S - 60);
      expect(lifetimeS).toBeLessThanOrEqual(THIRTY_DAYS_S);

      // The profile shows both: two-step login on, and this session in the list.
      const profile = await (await stack().fetch('/profile', { headers: { cookie: pair } })).text();
      expect(profile).toContain('Two-step login is on');
      expect(profile).toContain(`id="session-${current?.id}"`);
      expect(profile).toContain('This session');
    });

    it('should start one session per ticket: the same second step posted again goes back to the password', async () => {
      const { username, secret } = await enrolled();
      const first = await stack().fetch('/login', form({ username, password: PASSWORD }));
      const step = setCookie(first, 'login-step').pair;
      const page = await stack().fetch('/login/code', { headers: { cookie: step } });
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      const done = await stack().fetch('/login/code', form({ csrf, code: codeOf(secret) }, step));
      expect(done.headers.get('location')).toBe('/profile');
      // The cookie kept (a copy, or a replay): refused before any code is looked at.
      for (const code of [codeOf(secret), codeOf(secret, 1), '000000']) {
        const again = await stack().fetch('/login/code', form({ csrf, code }, step));
        expect({ code, location: again.headers.get('location') }).toEqual({
          code,
          location: '/login',
        });
        expect(setCookie(again, 'session').line).toBe('');
      }
    });

    it('should give a browser-session cookie through the second step without the tick', async () => {
      const { username, secret } = await enrolled();
      const plain = await pageLogin(username, codeOf(secret), false);
      const { pair, line } = setCookie(plain, 'session');
      expect(pair).toMatch(/^session=[\w-]+\.[\w-]+$/);
      expect(line).not.toContain('Max-Age');
      const current = (await listed(pair)).find((s) => s.current);
      expect(current?.remember).toBe(false);
    });
  });
}
