/**
 * Device cookies on the real stack (MariaDB, Redis): an attacker guessing a
 * user's password from other addresses, as fast as the limits allow, keeps
 * the username locked for strangers but cannot keep out its owner logging in
 * from a client that logged in before (JSON API and pages), also when its
 * login costs a slow hash, and a device cookie stops exempting after its
 * own failures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { jsonInit, type Stack, startStack } from './fixture.ts';

let stack: Stack;

const LIMIT = 3;
const BASE_DELAY_MS = 500;
const WINDOW_S = 20;

beforeAll(async () => {
  stack = await startStack({
    store: 'mysql',
    redis: true,
    env: {
      TRUST_PROXY: '1',
      RATE_LIMIT_USER_ATTEMPTS: String(LIMIT),
      RATE_LIMIT_USER_DELAY_MS: String(BASE_DELAY_MS),
      RATE_LIMIT_USER_WINDOW_S: String(WINDOW_S),
      RATE_LIMIT_IP_PER_S: '5',
      RATE_LIMIT_IP_BURST: '5',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const password = 'the owner password';

/** The value of `name` among the response's Set-Cookie headers; '' when not set. */
function setCookie(res: Response, name: string): string {
  for (const line of res.headers.getSetCookie()) {
    const [pair = ''] = line.split(';');
    if (pair.startsWith(`${name}=`)) return pair.slice(name.length + 1);
  }
  return '';
}

async function apiLogin(username: string, pw: string, ip: string, device = '') {
  const init = jsonInit('POST', { username, password: pw });
  const headers = init.headers as Record<string, string>;
  headers['x-forwarded-for'] = ip;
  if (device !== '') headers.cookie = `device=${device}`;
  return stack.fetch('/open_api/v1/authenticate', init);
}

async function pageLogin(username: string, pw: string, ip: string, device: string) {
  return stack.fetch('/login', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': ip,
      cookie: `device=${device}`,
    },
    body: new URLSearchParams({ username, password: pw }).toString(),
  });
}

/** Wrong guesses from 20 other addresses, each as fast as it is answered, until stopped. */
function attack(username: string) {
  let stopped = false;
  const answers: Record<number, number> = {};
  const runs = Array.from({ length: 20 }, async (_, a) => {
    for (let i = 0; !stopped; i++) {
      const res = await apiLogin(username, `guess ${a} ${i}`, `198.51.100.${a + 1}`);
      await res.body?.cancel();
      answers[res.status] = (answers[res.status] ?? 0) + 1;
    }
  });
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(runs);
    },
  };
}

describe('integration: device cookies', () => {
  it('should issue an HttpOnly SameSite=Lax device cookie at login, from the API and the pages', async () => {
    const reg = await stack.fetch(
      '/open_api/v1/register',
      jsonInit('POST', { username: 'cookie_shape', password }),
    );
    expect(reg.status).toBe(200);
    const res = await apiLogin('cookie_shape', password, '192.0.2.10');
    expect(res.status).toBe(200);
    const line = res.headers.getSetCookie().find((l) => l.startsWith('device='));
    expect(line).toContain('HttpOnly');
    expect(line).toContain('SameSite=Lax');
    const maxAge = Number(/Max-Age=(\d+)/.exec(line ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(29 * 86_400); // the 30-day default
    // Over HTTPS (a trusted proxy says so): __Host- and Secure, like the session cookie.
    const https = jsonInit('POST', { username: 'cookie_shape', password });
    (https.headers as Record<string, string>)['x-forwarded-proto'] = 'https';
    const secure = await stack.fetch('/open_api/v1/authenticate', https);
    const hostLine = secure.headers.getSetCookie().find((l) => l.startsWith('__Host-device='));
    expect(hostLine).toContain('Secure');
    const page = await pageLogin('cookie_shape', password, '192.0.2.10', '');
    expect(page.status).toBe(303);
    expect(setCookie(page, 'device')).not.toBe('');
  });

  it('should let the owner in with a device cookie throughout an attack that locks the username for everyone else', async () => {
    const username = 'under_attack';
    const reg = await stack.fetch(
      '/open_api/v1/register',
      jsonInit('POST', { username, password }),
    );
    expect(reg.status).toBe(200);
    // Earlier logins of the owner: one from the API client, one from the browser.
    const apiDevice = setCookie(await apiLogin(username, password, '203.0.113.7'), 'device');
    const pageDevice = setCookie(await pageLogin(username, password, '203.0.113.8', ''), 'device');
    expect(apiDevice).not.toBe('');
    expect(pageDevice).not.toBe('');

    const attacker = attack(username);
    await Bun.sleep(300); // the username is locked by now
    const owner: number[] = [];
    const pages: number[] = [];
    const strangers: number[] = [];
    const until = performance.now() + 4000;
    for (let i = 0; performance.now() < until; i++) {
      const res = await apiLogin(username, password, '203.0.113.7', apiDevice);
      owner.push(res.status);
      const next = setCookie(res, 'device'); // kept like a browser keeps it
      expect(next).not.toBe('');
      pages.push((await pageLogin(username, password, '203.0.113.8', pageDevice)).status);
      // The right password from a client without a cookie: throttled like the attacker.
      strangers.push((await apiLogin(username, password, `192.0.2.${50 + (i % 100)}`)).status);
      await Bun.sleep(100);
    }
    // From cold (a restarted TCP server has an empty memo): the owner's login costs a slow
    // hash, admitted against its device, still while the attack goes on.
    await stack.restartTcp();
    const hashes = stack.tcp.passwords.counts.verify;
    const cold = await apiLogin(username, password, '203.0.113.9', apiDevice);
    expect(cold.status).toBe(200);
    expect(stack.tcp.passwords.counts.verify).toBeGreaterThan(hashes);
    expect((await apiLogin(username, password, '192.0.2.250')).status).toBe(429);
    await attacker.stop();

    expect(attacker.answers[401] ?? 0).toBeGreaterThanOrEqual(LIMIT); // wrong guesses were hashed
    expect(attacker.answers[429] ?? 0).toBeGreaterThan(50); // and the rest refused
    expect(owner.length).toBeGreaterThan(5);
    expect(owner.every((s) => s === 200)).toBe(true);
    expect(pages.every((s) => s === 303)).toBe(true);
    expect(strangers.filter((s) => s === 429).length).toBeGreaterThan(strangers.length / 2);
  }, 30_000);

  it('should let a new client in after one wait no longer than its Retry-After, once the guessing stops', async () => {
    const username = 'new_client';
    await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
    const attacker = attack(username);
    await Bun.sleep(1500);
    await attacker.stop();
    const first = await apiLogin(username, password, '192.0.2.200');
    expect(first.status).toBe(429);
    const retryAfterS = Number(first.headers.get('retry-after'));
    // The bound of SECURITY.md: never more than the window.
    expect(retryAfterS).toBeGreaterThan(0);
    expect(retryAfterS).toBeLessThanOrEqual(WINDOW_S);
    // Refused attempts count nothing: asking again meanwhile does not move the wait.
    const again = await apiLogin(username, password, '192.0.2.200');
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeLessThanOrEqual(retryAfterS);
    await Bun.sleep(retryAfterS * 1000);
    expect((await apiLogin(username, password, '192.0.2.200')).status).toBe(200);
  }, 60_000);

  it('should stop exempting a device cookie after its own wrong passwords', async () => {
    const username = 'lost_device';
    await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
    const device = setCookie(await apiLogin(username, password, '203.0.113.20'), 'device');
    // Someone else's cookie for another username exempts nothing here.
    await stack.fetch(
      '/open_api/v1/register',
      jsonInit('POST', { username: 'other_owner', password }),
    );
    const other = setCookie(await apiLogin('other_owner', password, '203.0.113.20'), 'device');
    expect(other).not.toBe('');
    for (let i = 0; i < LIMIT; i++)
      expect((await apiLogin(username, `wrong ${i}`, '203.0.113.21', device)).status).toBe(401);
    // The username itself saw none of those failures.
    expect((await stack.tcp.limits.peekUser(username)).failures).toBe(0);
    // The device is now locked: it stops exempting and meets the username's rules like
    // anyone; the username is not locked, so its right password still gets in.
    expect((await apiLogin(username, password, '203.0.113.22', device)).status).toBe(200);
    // Lock the username for strangers: the locked device no longer gets past it.
    for (let i = 0; i < LIMIT; i++)
      await (await apiLogin(username, `stranger ${i}`, `198.51.100.${100 + i}`)).body?.cancel();
    expect((await apiLogin(username, password, '203.0.113.22', device)).status).toBe(429);
    expect((await apiLogin(username, password, '203.0.113.22', other)).status).toBe(429);
  }, 30_000);

  it('should stop exempting device cookies earned with an old password, and keep them through "log out everywhere"', async () => {
    const username = 'changed_pw';
    const newPassword = 'the owner second password';
    await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
    const login = await apiLogin(username, password, '203.0.113.30');
    const old = setCookie(login, 'device');
    const { token } = (await login.json()) as { token: string };
    const change = await stack.fetch('/api/v1/me/password', {
      ...jsonInit('PUT', { current_password: password, new_password: newPassword }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    expect(change.status).toBe(200);
    // Lock the username for strangers.
    for (let i = 0; i < LIMIT; i++)
      await (await apiLogin(username, `stranger ${i}`, `198.51.100.${110 + i}`)).body?.cancel();
    // The cookie earned with the old password is a stranger's now; the change's answer
    // gave the owner's client a new one, which exempts.
    expect((await apiLogin(username, 'a guess', '203.0.113.31', old)).status).toBe(429);
    expect((await apiLogin(username, newPassword, '203.0.113.31', old)).status).toBe(429);
    const renewed = setCookie(change, 'device');
    expect(renewed).not.toBe('');
    expect((await apiLogin(username, newPassword, '203.0.113.31', renewed)).status).toBe(200);

    // "Log out everywhere" ends sessions, not device cookies (their holders know the
    // password), and mints none: a stolen session cannot turn into device cookies.
    const other = 'changed_pw2';
    await stack.fetch('/open_api/v1/register', jsonInit('POST', { username: other, password }));
    const before = await apiLogin(other, password, '203.0.113.32');
    const kept = setCookie(before, 'device');
    const { token: otherToken } = (await before.json()) as { token: string };
    const everywhere = await Promise.all(
      Array.from({ length: 5 }, () =>
        stack.fetch('/api/v1/logout-all', {
          method: 'POST',
          headers: { authorization: `Bearer ${otherToken}` },
        }),
      ),
    );
    expect(everywhere.map((r) => setCookie(r, 'device'))).toEqual(['', '', '', '', '']);
    for (let i = 0; i < LIMIT; i++)
      await (await apiLogin(other, `stranger ${i}`, `198.51.100.${120 + i}`)).body?.cancel();
    expect((await apiLogin(other, password, '203.0.113.33')).status).toBe(429);
    expect((await apiLogin(other, password, '203.0.113.33', kept)).status).toBe(200);
  }, 30_000);
});
