/**
 * The pages, picture routes and headers through app.request(), with a fake
 * RPC client: what the HTTP server itself decides (validation, limits,
 * redirects, flashes, escaping, headers), never what the TCP server decides.
 */

import { describe, expect, it } from 'bun:test';
import { loadHttpConfig } from '../config/http-config.ts';
import { silentLogger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';
import { MAX_LISTED_SESSIONS, NICKNAME_RULE } from '../wire/account-rules.ts';
import type { CallName } from '../wire/calls.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { createApp } from './app.ts';
import { assets } from './assets.ts';

const config = loadHttpConfig({ HTTP_MAX_UPLOAD_BYTES: String(64 * 1024) });
const HASH = 'ab'.repeat(32);
const RULES = {
  username: {
    text: 'username must be 3 to 32 characters',
    minChars: 3,
    maxChars: 32,
    pattern: '[a-z]{3,32}',
  },
  password: {
    text: 'password must be 8 to 128 characters',
    minChars: 8,
    maxChars: 128,
    pattern: '',
  },
  nickname: { text: NICKNAME_RULE, minChars: 1, maxChars: 64, pattern: '' },
  pictureMaxPixels: 40_000_000,
};
const USER = {
  id: '1',
  username: 'alice',
  nickname: '<script>alert(1)</script>',
  picture: '',
  createdAtMs: 0n,
  updatedAtMs: 0n,
};

type Answer = (name: CallName, input: Record<string, unknown>) => unknown;

/** Answers the usual calls; `answer` overrides any of them. */
function setup(answer: Answer = () => undefined) {
  const calls: { name: CallName; input: Record<string, unknown> }[] = [];
  const rpc: RpcClient = {
    async call(name, input) {
      calls.push({ name, input: input as Record<string, unknown> });
      const special = answer(name, input as Record<string, unknown>);
      if (special !== undefined) return special as never;
      switch (name) {
        case 'getAccountRules':
          return RULES as never;
        case 'getProfile':
          return { user: USER, csrfToken: 'csrf-of-session' } as never;
        case 'getTotp':
          return { enabled: false, recoveryCodesLeft: 0 } as never;
        case 'login':
          return {
            token: 'tok',
            expiresAtMs: BigInt(Date.now() + 60_000),
            persistent: (input as { remember?: boolean }).remember === true,
            deviceCookie: 'dev',
            deviceCookieExpiresAtMs: BigInt(Date.now() + 86_400_000),
          } as never;
        case 'listSessions':
          return { sessions: [] } as never;
        default:
          return { user: USER } as never;
      }
    },
  };
  const app = createApp({ rpc, http: config.http, log: silentLogger });
  const request = (path: string, init: RequestInit = {}) =>
    app.request(`http://localhost${path}`, init);
  return { request, calls };
}

/** The calls that carried a picture. */
const uploads = <C extends { name: CallName }>(calls: C[]) =>
  calls.filter((c) => c.name === 'setPicture');

const cookie = 'session=tok';
const form = (fields: Record<string, string>) => new URLSearchParams(fields);

/** The flash cookie a response set, as the browser would send it back. */
function flashOf(res: Response): string {
  const set = res.headers.getSetCookie().find((c) => c.startsWith('flash='));
  if (set === undefined) throw new Error('no flash cookie was set');
  return set.split(';')[0] as string;
}

function multipart(parts: [string, string | Blob, string?][]): FormData {
  const data = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === 'string') data.append(name, value);
    else data.append(name, value, filename);
  }
  return data;
}

describe('unit: security headers', () => {
  it('should put the page CSP on pages and a deny-all CSP on JSON and pictures', async () => {
    const { request } = setup(() => ({ data: new Uint8Array([1]), contentType: 'image/webp' }));
    const pageCsp =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    const expected: [string, string][] = [
      ['/login', pageCsp],
      ['/healthz', "default-src 'none'; frame-ancestors 'none'"],
      [`/pictures/${HASH}.webp`, "default-src 'none'; frame-ancestors 'none'"],
      ['/no/such/page', "default-src 'none'; frame-ancestors 'none'"],
    ];
    for (const [path, csp] of expected) {
      const res = await request(path);
      expect([path, res.headers.get('content-security-policy')]).toEqual([path, csp]);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
    expect((await request('/login')).headers.get('referrer-policy')).toBe('same-origin');
  });

  it('should forbid storing pages, and let the assets be cached for a year', async () => {
    const { request } = setup();
    expect((await request('/login')).headers.get('cache-control')).toBe('no-store');
    const css = await request(assets.style.path);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(assets.style.path).toMatch(/^\/assets\/style\.[0-9a-f]{10}\.css$/);
    expect((await request('/assets/style.css')).status).toBe(404);
    expect((await request(assets.profileScript.path)).headers.get('content-type')).toBe(
      'text/javascript; charset=utf-8',
    );
  });

  it('should answer unknown addresses with an HTML page for browsers and JSON for the rest', async () => {
    const { request } = setup();
    const page = await request('/nope', { headers: { accept: 'text/html,*/*' } });
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toStartWith('text/html');
    expect(await page.text()).toContain('There is no page at this address');
    const api = await request('/nope');
    expect(await api.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } });
  });
});

describe('unit: login and sign-up pages', () => {
  it('should send / to /login without a session cookie, to /profile with one', async () => {
    const { request, calls } = setup();
    expect((await request('/')).headers.get('location')).toBe('/login');
    expect((await request('/', { headers: { cookie } })).headers.get('location')).toBe('/profile');
    expect(calls).toEqual([]);
  });

  it('should send a signed-in browser from the login and sign-up forms to its profile, unless a message waits', async () => {
    const { request, calls } = setup();
    for (const path of ['/login', '/register']) {
      const res = await request(path, { headers: { cookie } });
      expect({ path, status: res.status, to: res.headers.get('location') }).toEqual({
        path,
        status: 303,
        to: '/profile',
      });
    }
    expect(calls).toEqual([]);
    // A form's error comes back to the form with its message, cookie or not.
    const failed = await request('/register', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ username: 'bob', password: 'one passphrase', password2: 'another one' }),
    });
    expect(failed.headers.get('location')).toBe('/register');
    const page = await request('/register', {
      headers: { cookie: `${cookie}; ${flashOf(failed)}` },
    });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('not the same');
  });

  it('should render a complete, labelled login page in UTF-8 and English', async () => {
    const { request } = setup();
    const res = await request('/login');
    expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    const html = await res.text();
    expect(html).toStartWith('<!doctype html><html lang="en"><head><meta charset="utf-8"/>');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1"/>');
    expect(html).toContain('<label for="username">Username</label>');
    expect(html).toContain('<label for="password">Password</label>');
    expect(html).toContain(`<link rel="stylesheet" href="${assets.style.path}"/>`);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('style=');
  });

  it('should log in and redirect to /profile with the session cookie', async () => {
    const { request, calls } = setup();
    const res = await request('/login', {
      method: 'POST',
      body: form({ username: 'alice', password: 'correct horse' }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/profile');
    // Without "keep me logged in": a cookie for the browser session, no Max-Age.
    expect(res.headers.getSetCookie()).toContain('session=tok; Path=/; HttpOnly; SameSite=Lax');
    const device = res.headers.getSetCookie().find((line) => line.startsWith('device='));
    expect(device).toMatch(/^device=dev; Max-Age=(8639\d|86400); Path=\/; HttpOnly; SameSite=Lax$/);
    expect(calls[0]).toEqual({
      name: 'login',
      input: {
        username: 'alice',
        password: 'correct horse',
        currentToken: '',
        deviceCookie: '',
        remember: false,
        userAgent: '',
        wantTicket: true,
      },
    });
  });

  it('should keep the session cookie for its lifetime with "keep me logged in", and send the User-Agent', async () => {
    const { request, calls } = setup();
    const res = await request('/login', {
      method: 'POST',
      headers: { 'user-agent': `Mozilla/5.0 ${'x'.repeat(1000)}` },
      body: form({ username: 'alice', password: 'correct horse', remember: 'yes' }),
    });
    const session = res.headers.getSetCookie().find((line) => line.startsWith('session='));
    expect(session).toMatch(/^session=tok; Max-Age=(59|60); Path=\/; HttpOnly; SameSite=Lax$/);
    expect(calls[0]?.input).toMatchObject({ remember: true });
    // Cut, not refused.
    expect(String(calls[0]?.input.userAgent).length).toBe(512);
  });

  it('should offer "keep me logged in", ticked again after a failed login that had it', async () => {
    const { request } = setup((name) => {
      if (name === 'login')
        throw new RpcError(Status.UNAUTHENTICATED, 'invalid username or password');
    });
    const page = await request('/login');
    const html = await page.text();
    expect(html).toContain('<input id="remember" name="remember" type="checkbox" value="yes"');
    expect(html).toContain('<label for="remember">Keep me logged in</label>');
    expect(html).not.toMatch(/id="remember"[^>]*checked/);
    const res = await request('/login', {
      method: 'POST',
      body: form({ username: 'alice', password: 'wrong', remember: 'yes' }),
    });
    const again = await request('/login', { headers: { cookie: flashOf(res) } });
    expect(await again.text()).toMatch(/id="remember"[^>]*checked/);
  });

  it('should send the device cookie the browser keeps with its login', async () => {
    const { request, calls } = setup();
    await request('/login', {
      method: 'POST',
      headers: { cookie: 'device=earlier' },
      body: form({ username: 'alice', password: 'correct horse' }),
    });
    expect(calls[0]?.input).toMatchObject({ deviceCookie: 'earlier' });
  });

  it('should come back to the login page with the error and the username, never the password', async () => {
    const { request } = setup((name) => {
      if (name === 'login')
        throw new RpcError(Status.UNAUTHENTICATED, 'invalid username or password');
    });
    const res = await request('/login', {
      method: 'POST',
      body: form({ username: 'al"ice<', password: 'wrong password' }),
    });
    expect([res.status, res.headers.get('location')]).toEqual([303, '/login']);
    const flash = flashOf(res);
    expect(flash).not.toContain('wrong');
    const page = await request('/login', { headers: { cookie: flash } });
    const html = await page.text();
    expect(html).toContain('<title>Error: Log in · usermgr</title>');
    expect(html).toContain(
      '<li id="form-error"><a href="#username">Invalid username or password.</a></li>',
    );
    // The one error is about both fields: each is described by it, and marked invalid.
    expect(html.match(/aria-describedby="form-error"/g)).toHaveLength(2);
    expect(html.match(/aria-invalid="true"/g)).toHaveLength(2);
    expect(html).toContain('value="al&quot;ice&lt;"');
    expect(html).not.toContain('wrong password');
    // Shown once: the page clears the flash.
    expect(page.headers.get('set-cookie')).toContain('flash=; Max-Age=0');
  });

  it('should show the rules from the TCP server next to the sign-up fields, as browser hints too', async () => {
    const { request } = setup();
    const html = await (await request('/register')).text();
    expect(html).toContain('id="username-rule">Username must be 3 to 32 characters');
    // Spaces around it are let be (a phone keyboard adds one; the server drops them), and
    // what the browser shows when the pattern refuses is the rule, not "match the requested format".
    expect(html).toContain('pattern=" *(?:[a-z]{3,32}) *"');
    expect(html).toMatch(/pattern="[^"]+" title="Username must be 3 to 32 characters/);
    // The HTTP server's bounds as the fields' maxlength: over them, a form could only
    // lead to a page of its own with the form gone.
    for (const [name, max] of [
      ['username', 64],
      ['password', 1024],
      ['password2', 1024],
      ['nickname', 1024],
    ] as const) {
      expect([name, new RegExp(`<input id="${name}"[^>]* maxlength="${max}"`).test(html)]).toEqual([
        name,
        true,
      ]);
    }
    expect(html).toContain('id="password-rule">Password must be 8 to 128 characters.</small>');
    expect(html).toContain('minlength="8"');
    expect(html).toContain('Nickname<span class="optional"> (optional)</span>');
  });

  it('should refuse two different passwords at the second field, without calling the TCP server', async () => {
    const { request, calls } = setup();
    const res = await request('/register', {
      method: 'POST',
      body: form({
        username: 'bob',
        password: 'one password',
        password2: 'another one',
        nickname: 'B',
      }),
    });
    const html = await (await request('/register', { headers: { cookie: flashOf(res) } })).text();
    expect(html).toContain('id="password2-error">The two passwords are not the same.</strong>');
    expect(html).toContain('aria-describedby="password2-error"');
    expect(html).toContain('aria-invalid="true"');
    expect(html).toContain('value="bob"');
    expect(html).toContain('value="B"');
    expect(calls.map((c) => c.name)).toEqual(['getAccountRules']);
  });

  it('should sum the errors up at the top, linked to their fields, focused, and say so in the title', async () => {
    const { request } = setup((name) => {
      if (name === 'register')
        throw new RpcError(Status.INVALID_ARGUMENT, 'password must be hard to guess', {
          field: 'password',
        });
    });
    const clean = await (await request('/register')).text();
    expect(clean).toContain('<title>Create an account · usermgr</title>');
    expect(clean).not.toContain('error-summary');
    const res = await request('/register', {
      method: 'POST',
      body: form({ username: 'bob', password: '12345678', password2: '12345678' }),
    });
    const html = await (await request('/register', { headers: { cookie: flashOf(res) } })).text();
    expect(html).toContain('<title>Error: Create an account · usermgr</title>');
    const summary = html.slice(html.indexOf('<div class="error-summary"'), html.indexOf('</div>'));
    expect(summary).toContain(
      'role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus',
    );
    expect(summary).toContain('<a href="#password">Password must be hard to guess.</a>');
    expect(html).toContain('id="password-error">Password must be hard to guess.</strong>');
    expect(html).toContain('aria-describedby="password-rule password-error"');
    // Only the summary takes the focus, and it comes before the form.
    expect(html.match(/autofocus/g)).toHaveLength(1);
    expect(html.indexOf('error-summary')).toBeLessThan(html.indexOf('<form'));
  });

  it('should give password fields a hook for the show-password script, which the page links', async () => {
    const { request } = setup();
    for (const path of ['/login', '/register']) {
      const html = await (await request(path)).text();
      expect(html).toMatch(/<script src="\/assets\/password\.[0-9a-f]{10}\.js" defer="">/);
      expect(html).toMatch(/<input id="password" data-reveal="" name="password" type="password"/);
    }
  });

  it("should put the TCP server's refusal next to the field it names", async () => {
    const { request } = setup((name) => {
      if (name === 'register')
        throw new RpcError(Status.ALREADY_EXISTS, 'this username is already taken', {
          field: 'username',
        });
    });
    const res = await request('/register', {
      method: 'POST',
      body: form({ username: 'bob', password: 'long enough', password2: 'long enough' }),
    });
    const html = await (await request('/register', { headers: { cookie: flashOf(res) } })).text();
    expect(html).toContain('id="username-error">This username is already taken.</strong>');
    expect(html).toContain('aria-describedby="username-rule username-error"');
  });

  it('should show every field the TCP server names at once, each at its field and in the summary', async () => {
    const { request } = setup((name) => {
      if (name === 'register')
        throw new RpcError(Status.INVALID_ARGUMENT, 'this username is already taken', {
          field: 'username',
          moreFields: [
            { field: 'password', message: 'password must be hard to guess' },
            { field: 'nickname', message: 'nickname must contain a visible character' },
          ],
        });
    });
    const res = await request('/register', {
      method: 'POST',
      body: form({ username: 'bob', password: 'password', password2: 'password', nickname: ' ' }),
    });
    const html = await (await request('/register', { headers: { cookie: flashOf(res) } })).text();
    const summary = html.slice(html.indexOf('<div class="error-summary"'), html.indexOf('</div>'));
    const links = [...summary.matchAll(/<a href="#(\w+)">/g)].map((m) => m[1]);
    expect(links).toEqual(['username', 'password', 'nickname']);
    expect(html).toContain('id="username-error">This username is already taken.</strong>');
    expect(html).toContain('id="password-error">Password must be hard to guess.</strong>');
    expect(html).toContain(
      'id="nickname-error">Nickname must contain a visible character.</strong>',
    );
  });

  it('should sign up, log in and go to the profile', async () => {
    const { request, calls } = setup();
    const res = await request('/register', {
      method: 'POST',
      body: form({
        username: 'bob',
        password: 'long enough',
        password2: 'long enough',
        nickname: '',
      }),
    });
    expect(res.headers.get('location')).toBe('/profile');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('session=tok'))).toBe(true);
    expect(calls.map((c) => c.name)).toEqual(['register', 'login']);
  });

  it('should answer bodies that are not forms, and fields sent as files, with 4xx pages', async () => {
    const { request } = setup();
    const json = await request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username":"a"}',
    });
    expect(json.status).toBe(415);
    expect(json.headers.get('content-type')).toStartWith('text/html');
    const file = await request('/login', {
      method: 'POST',
      body: multipart([['username', new Blob(['x']), 'u.txt']]),
    });
    expect(file.status).toBe(400);
    expect(await file.text()).toContain('Username must be text, not a file');
  });

  it('should refuse a cross-site form post with a 403 page', async () => {
    const { request, calls } = setup();
    const res = await request('/login', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', accept: 'text/html' },
      body: form({ username: 'alice', password: 'x' }),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Cross-site requests are not allowed');
    expect(calls).toEqual([]);
  });
});

describe('unit: profile page', () => {
  it('should send visitors without a session to /login, and clear a session that ended', async () => {
    const { request } = setup((name) => {
      if (name === 'getProfile') throw new RpcError(Status.UNAUTHENTICATED, 'not logged in');
    });
    expect((await request('/profile')).headers.get('location')).toBe('/login');
    const ended = await request('/profile', { headers: { cookie } });
    expect(ended.headers.get('location')).toBe('/login');
    expect(ended.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
  });

  it('should escape the nickname, show initials, and put the session token in every form', async () => {
    const { request } = setup();
    const html = await (await request('/profile', { headers: { cookie } })).text();
    expect(html).toContain(
      'id="shown-nickname" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;</p>',
    );
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('class="avatar initials');
    expect(html.match(/name="csrf" value="csrf-of-session"/g)?.length).toBe(7);
    expect(html).toContain(`<script src="${assets.profileScript.path}" defer="">`);
    expect(html).toContain('up to 64 KiB');
  });

  it('should show the picture when there is one, small in the bar', async () => {
    const { request } = setup((name) =>
      name === 'getProfile' ? { user: { ...USER, picture: HASH }, csrfToken: 'c' } : undefined,
    );
    const html = await (await request('/profile', { headers: { cookie } })).text();
    expect(html).toContain(`src="/pictures/${HASH}.webp"`);
    expect(html).toContain(`src="/pictures/${HASH}-64.webp"`);
    // A screen reader can tell a picture is set; the empty file field is not "invalid".
    expect(html).toContain(
      '<p id="picture-state">Your picture is shown at the top of this page.</p>',
    );
    expect(html).toMatch(/<input id="picture"[^>]* aria-invalid="false"/);
  });

  // Regression (a browser audit): the summary said "Nickname: nickname must be ...".
  it('should name the form before a field error only when the message does not name it already', async () => {
    const { request } = setup((name) => {
      if (name === 'updateNickname')
        throw new RpcError(Status.INVALID_ARGUMENT, 'nickname must be 1 to 64 characters', {
          field: 'nickname',
        });
      return undefined;
    });
    const summaryAfter = async (res: Response) => {
      const html = await (
        await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } })
      ).text();
      return html.slice(html.indexOf('<div class="error-summary"'), html.indexOf('</div>'));
    };
    const nickname = await request('/profile/nickname', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', nickname: 'x' }),
    });
    expect(await summaryAfter(nickname)).toContain(
      '<a href="#nickname">Nickname must be 1 to 64 characters.</a>',
    );
    // The longest nickname a rule allows comes back whole (regression, a review: cut at
    // 200 code points, inside a family emoji).
    const families = '👨‍👩‍👧‍👦'.repeat(36);
    const long = await request('/profile/nickname', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', nickname: families }),
    });
    expect(flashOf(long)).toContain('flash=');
    const page = await (
      await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(long)}` } })
    ).text();
    expect(page).toContain(`value="${families}"`);
  });

  // Regression (a browser audit): a session that ended while a nickname was typed lost
  // it, and the login form after it did not have the username either.
  it('should keep a nickname typed as the session ended for the profile after the same user logs in again', async () => {
    /** A session token as the pool reads its user (affinity-key.ts); its MAC is not looked at here. */
    const tokenOf = (username: string) => {
      const payload = Buffer.alloc(52 + username.length);
      payload[0] = 3;
      payload[51] = username.length;
      payload.write(username, 52, 'latin1');
      return `${payload.toString('base64url')}.mac`;
    };
    const { request } = setup((name, input) => {
      const token = (input.auth as { token?: string } | undefined)?.token;
      if (name === 'updateNickname' && token === tokenOf('alice'))
        throw new RpcError(Status.UNAUTHENTICATED, 'not logged in, or the session has ended');
      return undefined;
    });
    const ended = await request('/profile/nickname', {
      method: 'POST',
      headers: { cookie: `session=${tokenOf('alice')}` },
      body: form({ csrf: 'c', nickname: 'Zoë 🚀' }),
    });
    expect([ended.status, ended.headers.get('location')]).toEqual([303, '/login']);
    const login = await (await request('/login', { headers: { cookie: flashOf(ended) } })).text();
    expect(login).toContain('value="alice"');
    const kept = ended.headers.getSetCookie().find((c) => c.startsWith('kept='));
    expect(kept).toContain('HttpOnly');
    const keptCookie = (kept as string).split(';')[0] as string;
    // Logged in again (a new token of the same user): the nickname is back, and said so.
    const again = await request('/profile', {
      headers: { cookie: `session=${tokenOf('alice')}x; ${keptCookie}` },
    });
    const page = await again.text();
    expect(page).toContain('value="Zoë 🚀"');
    expect(page).toContain('Your session had ended before your new nickname was saved');
    expect(again.headers.getSetCookie().some((c) => c.startsWith('kept=;'))).toBe(true);
    // Another user on this browser gets nothing of it.
    const other = await request('/profile', {
      headers: { cookie: `session=${tokenOf('bob')}; ${keptCookie}` },
    });
    expect(await other.text()).not.toContain('Zoë');
  });

  it("should send the form's anti-CSRF token, and '' when the form has none (never skip the check)", async () => {
    const { request, calls } = setup();
    await request('/profile/nickname', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'from-form', nickname: 'Zoë' }),
    });
    await request('/profile/nickname', {
      method: 'POST',
      headers: { cookie },
      body: form({ nickname: 'Zoë' }),
    });
    expect(calls.map((c) => c.input)).toEqual([
      { auth: { token: 'tok', csrfToken: 'from-form' }, nickname: 'Zoë' },
      { auth: { token: 'tok', csrfToken: '' }, nickname: 'Zoë' },
    ]);
  });

  it('should answer a wrong anti-CSRF token with a 403 page and keep the session', async () => {
    const { request } = setup(() => {
      throw new RpcError(Status.PERMISSION_DENIED, 'the form has expired');
    });
    for (const path of [
      '/profile/nickname',
      '/logout',
      '/profile/password',
      '/profile/picture/remove',
      '/profile/logout-all',
      '/profile/delete',
    ]) {
      const res = await request(path, {
        method: 'POST',
        headers: { cookie },
        body: form({ csrf: 'forged', nickname: 'x', new_password: 'p', new_password2: 'p' }),
      });
      expect([path, res.status]).toEqual([path, 403]);
      expect(res.headers.getSetCookie()).toEqual([]);
    }
  });

  it('should offer the account forms, naming the username where the account is deleted', async () => {
    const { request } = setup((name) =>
      name === 'getProfile' ? { user: { ...USER, picture: HASH }, csrfToken: 'c' } : undefined,
    );
    const html = await (await request('/profile', { headers: { cookie } })).text();
    for (const action of ['password', 'picture/remove', 'logout-all', 'delete']) {
      expect(html).toContain(`action="/profile/${action}"`);
    }
    expect(html).toContain('This deletes the account <strong>alice</strong>');
    expect(html).toContain('Delete account alice');
    expect(html).toContain('autocomplete="current-password"');
    // Without a picture there is nothing to remove.
    const bare = await (await setup().request('/profile', { headers: { cookie } })).text();
    expect(bare).not.toContain('action="/profile/picture/remove"');
  });

  it('should change the password, putting the new session in the cookie', async () => {
    const expiresAtMs = BigInt(Date.now() + 60_000);
    const { request, calls } = setup((name) =>
      name === 'changePassword' ? { token: 'fresh', expiresAtMs, persistent: true } : undefined,
    );
    const fields = { csrf: 'c', current_password: 'old one!', new_password: 'new one!' };
    const res = await request('/profile/password', {
      method: 'POST',
      headers: { cookie, 'user-agent': 'Firefox/128.0' },
      body: form({ ...fields, new_password2: 'new one!' }),
    });
    expect(res.headers.get('location')).toBe('/profile');
    // The new session keeps "keep me logged in": a cookie with a Max-Age.
    expect(res.headers.getSetCookie().some((c) => c.startsWith('session=fresh; Max-Age='))).toBe(
      true,
    );
    expect(calls[0]).toEqual({
      name: 'changePassword',
      input: {
        auth: { token: 'tok', csrfToken: 'c' },
        currentPassword: 'old one!',
        newPassword: 'new one!',
        code: '',
        userAgent: 'Firefox/128.0',
      },
    });

    // Two different new passwords never reach the TCP server.
    const differ = setup();
    const refused = await differ.request('/profile/password', {
      method: 'POST',
      headers: { cookie },
      body: form({ ...fields, new_password2: 'other one' }),
    });
    expect(refused.headers.get('location')).toBe('/profile');
    expect(differ.calls).toEqual([]);
    const page = await differ.request('/profile', {
      headers: { cookie: `${cookie}; ${flashOf(refused)}` },
    });
    expect(await page.text()).toContain('The two new passwords are not the same');
  });

  it('should show a wrong confirming password at its field and keep the session, but log out an ended one', async () => {
    const { request } = setup((name) => {
      if (name === 'deleteAccount') {
        throw new RpcError(Status.UNAUTHENTICATED, 'the password is wrong', { field: 'password' });
      }
    });
    const res = await request('/profile/delete', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', password: 'guess' }),
    });
    expect(res.headers.get('location')).toBe('/profile');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('session='))).toBe(false);
    const page = await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } });
    const html = await page.text();
    expect(html).toContain('id="password-error">The password is wrong');
    expect(html).not.toContain('guess');

    const ended = setup(() => {
      throw new RpcError(Status.UNAUTHENTICATED, 'not logged in');
    });
    const out = await ended.request('/profile/delete', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', password: 'guess' }),
    });
    expect(out.headers.get('location')).toBe('/login');
    expect(out.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
  });

  it('should delete the account, log out everywhere and remove the picture with the token', async () => {
    for (const [path, name, extra, to, sent = extra] of [
      [
        '/profile/delete',
        'deleteAccount',
        { password: 'pw' },
        '/login',
        { password: 'pw', code: '' },
      ],
      ['/profile/logout-all', 'logoutAll', {}, '/login'],
      ['/profile/picture/remove', 'removePicture', {}, '/profile'],
    ] as const) {
      const { request, calls } = setup((n) => (n === name ? { user: USER } : undefined));
      const res = await request(path, {
        method: 'POST',
        headers: { cookie },
        body: form({ csrf: 'c', ...extra }),
      });
      expect([path, res.headers.get('location')]).toEqual([path, to]);
      const cleared = res.headers.getSetCookie().some((c) => c.startsWith('session=;'));
      expect([path, cleared]).toEqual([path, to === '/login']);
      expect(calls[0]).toEqual({
        name,
        input: { auth: { token: 'tok', csrfToken: 'c' }, ...sent },
      });
    }
  });

  it('should ask for a code in the password and deletion forms while two-step login is on, and show its errors there', async () => {
    const withCode = setup((name) =>
      name === 'getTotp' ? { enabled: true, recoveryCodesLeft: 10 } : undefined,
    );
    const html = await (await withCode.request('/profile', { headers: { cookie } })).text();
    expect(html).toContain('name="password_code"');
    expect(html).toContain('name="delete_code"');
    const without = await (await setup().request('/profile', { headers: { cookie } })).text();
    expect(without).not.toContain('name="password_code"');
    expect(without).not.toContain('name="delete_code"');

    for (const [path, field, body, error] of [
      [
        '/profile/password',
        'password_code',
        { current_password: 'old one!', new_password: 'new one!', new_password2: 'new one!' },
        new RpcError(Status.OTP_REQUIRED, MESSAGES.OTP_REQUIRED, { field: 'code' }),
      ],
      [
        '/profile/delete',
        'delete_code',
        { password: 'pw' },
        new RpcError(Status.UNAUTHENTICATED, MESSAGES.WRONG_OTP, { field: 'code' }),
      ],
    ] as const) {
      const { request, calls } = setup((name) => {
        if (name === 'changePassword' || name === 'deleteAccount') throw error;
      });
      const res = await request(path, {
        method: 'POST',
        headers: { cookie },
        body: form({ csrf: 'c', ...body, [field]: '123 456' }),
      });
      expect(calls[0]?.input.code).toBe('123 456');
      expect([path, res.headers.get('location')]).toEqual([path, '/profile']);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('session='))).toBe(false);
      const page = await withCode.request('/profile', {
        headers: { cookie: `${cookie}; ${flashOf(res)}` },
      });
      const shown = await page.text();
      const message = error.message.charAt(0).toUpperCase() + error.message.slice(1);
      expect(shown).toContain(`id="${field}-error">${message}`);
      expect(shown).toContain(`href="#${field}"`);
    }
  });

  it('should answer a GET of /logout with the way to log out, changing nothing', async () => {
    const { request, calls } = setup(() => ({}));
    const signedIn = await request('/logout', { headers: { cookie } });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/profile');
    const cookies = signedIn.headers.getSetCookie();
    expect(cookies.some((c) => c.startsWith('session='))).toBe(false);
    expect(cookies.some((c) => c.startsWith('flash='))).toBe(true);
    const stranger = await request('/logout');
    expect(stranger.headers.get('location')).toBe('/login');
    expect(calls).toEqual([]);
  });

  it('should log out with the token, clear the cookie and say so', async () => {
    const { request, calls } = setup(() => ({}));
    const res = await request('/logout', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c' }),
    });
    expect(res.headers.get('location')).toBe('/login');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
    expect(calls[0]).toEqual({ name: 'logout', input: { auth: { token: 'tok', csrfToken: 'c' } } });
  });

  it('should forward an uploaded file as bytes, whatever its name says', async () => {
    const { request, calls } = setup();
    for (const filename of ['../../etc/passwd', 'ä"\';\r\n<x>.png', 'a'.repeat(5000), '']) {
      const res = await request('/profile/picture', {
        method: 'POST',
        headers: { cookie },
        body: multipart([
          ['csrf', 'c'],
          ['picture', new Blob([new Uint8Array([1, 2, 3])]), filename || 'blob'],
        ]),
      });
      expect([filename.slice(0, 20), res.status]).toEqual([filename.slice(0, 20), 303]);
    }
    expect(calls.at(-1)?.input).toEqual({
      auth: { token: 'tok', csrfToken: 'c' },
      image: new Uint8Array([1, 2, 3]),
    });
  });

  it('should come back with a message at the picture field for refusals and for no file at all', async () => {
    const { request } = setup((name) => {
      if (name === 'setPicture')
        throw new RpcError(
          Status.UNSUPPORTED_MEDIA,
          'the picture must be a JPEG, PNG, WebP or GIF image',
        );
    });
    for (const [body, message] of [
      [
        multipart([
          ['csrf', 'c'],
          ['picture', new Blob(['hello']), 'notes.png'],
        ]),
        'The picture must be a JPEG',
      ],
      [
        multipart([
          ['csrf', 'c'],
          ['picture', new Blob([]), ''],
        ]),
        'Choose a picture to upload',
      ],
      [multipart([['csrf', 'c']]), 'Choose a picture to upload'],
    ] as const) {
      const res = await request('/profile/picture', { method: 'POST', headers: { cookie }, body });
      expect(res.status).toBe(303);
      const html = await (
        await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } })
      ).text();
      expect(html).toContain(`id="picture-error">${message}`);
    }
  });

  it('should refuse an upload over the limit before reading it, with the limit in words', async () => {
    const { request, calls } = setup();
    const big = new Uint8Array(200 * 1024);
    const res = await request('/profile/picture', {
      method: 'POST',
      headers: { cookie },
      body: multipart([
        ['csrf', 'c'],
        ['picture', new Blob([big]), 'big.png'],
      ]),
    });
    expect([res.status, res.headers.get('location')]).toEqual([303, '/profile']);
    const html = await (
      await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } })
    ).text();
    expect(html).toContain(
      'id="picture-error">The picture is larger than 64 KiB: choose a smaller one, or save it smaller first.</strong>',
    );
    expect(calls.map((c) => c.name)).not.toContain('setPicture');
  });
});

describe('unit: picture routes', () => {
  it('should serve a picture with immutable caching, its type and nosniff', async () => {
    const { request, calls } = setup(() => ({
      data: new Uint8Array([82, 73, 70, 70]),
      contentType: 'image/webp',
    }));
    for (const name of [HASH, `${HASH}-64`]) {
      const res = await request(`/pictures/${name}.webp`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/webp');
      expect(res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('etag')).toBe(`"${name}"`);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([82, 73, 70, 70]));
    }
    expect(calls.map((c) => c.input)).toEqual([{ name: HASH }, { name: `${HASH}-64` }]);
  });

  it('should answer a revalidation with 304 without asking the TCP server', async () => {
    const { request, calls } = setup();
    const res = await request(`/pictures/${HASH}.webp`, {
      headers: { 'if-none-match': `"${HASH}"` },
    });
    expect(res.status).toBe(304);
    expect(calls).toEqual([]);
    // Compared weakly, and in a list.
    for (const tag of [`W/"${HASH}"`, `"other", W/"${HASH}"`]) {
      const weak = await request(`/pictures/${HASH}.webp`, { headers: { 'if-none-match': tag } });
      expect({ tag, status: weak.status }).toEqual({ tag, status: 304 });
    }
    expect(calls).toEqual([]);
  });

  it('should answer If-None-Match: * with 304 when the picture exists, after asking', async () => {
    const { request, calls } = setup();
    const res = await request(`/pictures/${HASH}.webp`, { headers: { 'if-none-match': '*' } });
    expect(res.status).toBe(304);
    expect(calls.map((c) => c.input)).toEqual([{ name: HASH }]);
  });

  it('should answer 404 for names that are not pictures, without asking the TCP server', async () => {
    const { request, calls } = setup();
    for (const path of [
      `/pictures/${HASH}`,
      `/pictures/${HASH}.png`,
      `/pictures/${HASH}-32.webp`,
      `/pictures/${HASH.toUpperCase()}.webp`,
      '/pictures/..%2f..%2fetc%2fpasswd',
      '/pictures/%2e%2e%2fsecret.webp',
      '/pictures/../package.json',
      `/pictures/${HASH}.webp%00.png`,
      '/pictures/',
    ]) {
      const res = await request(path);
      expect([path, res.status]).toEqual([path, 404]);
    }
    expect(calls).toEqual([]);
  });

  it('should answer 404 when the TCP server knows no such picture', async () => {
    const { request } = setup(() => {
      throw new RpcError(Status.NOT_FOUND, 'no such picture');
    });
    const res = await request(`/pictures/${HASH}.webp`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such picture' } });
    // Regression (a browser audit): a browser opening an old picture's address saw raw JSON.
    for (const path of [`/pictures/${HASH}.webp`, '/pictures/not-a-picture.webp']) {
      const page = await request(path, { headers: { accept: 'text/html,*/*' } });
      expect([path, page.status, page.headers.get('content-type')]).toEqual([
        path,
        404,
        'text/html; charset=UTF-8',
      ]);
      expect(await page.text()).toContain('<h1>Page not found</h1>');
    }
  });
});

describe('unit: PUT /api/v1/me/picture', () => {
  const put = (request: ReturnType<typeof setup>['request'], body: BodyInit, headers = {}) =>
    request('/api/v1/me/picture', {
      method: 'PUT',
      headers: { authorization: 'Bearer tok', ...headers },
      body,
    });

  it('should take the multipart field "picture" or the raw body', async () => {
    const { request, calls } = setup();
    const raw = await put(request, new Uint8Array([9, 8, 7]), { 'content-type': 'image/png' });
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as { user: { username: string } }).user.username).toBe('alice');
    await put(request, multipart([['picture', new Blob([new Uint8Array([6, 5])]), 'x.png']]));
    expect(calls.map((c) => c.name)).toEqual([
      'getProfile',
      'setPicture',
      'getProfile',
      'setPicture',
    ]);
    expect(uploads(calls).map((c) => c.input)).toEqual([
      { auth: { token: 'tok' }, image: new Uint8Array([9, 8, 7]) },
      { auth: { token: 'tok' }, image: new Uint8Array([6, 5]) },
    ]);
  });

  it('should answer 413 with the JSON error body over the limit, also for chunked bodies', async () => {
    const { request, calls } = setup();
    const big = new Uint8Array(config.http.maxUploadBytes + 1);
    const withLength = await put(request, big);
    expect(withLength.status).toBe(413);
    expect(await withLength.json()).toEqual({
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message:
          'the picture is larger than 64 KiB: choose a smaller one, or save it smaller first',
      },
    });
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 100; i++) controller.enqueue(new Uint8Array(1024));
        controller.close();
      },
    });
    const streamed = await request('/api/v1/me/picture', {
      method: 'PUT',
      headers: { authorization: 'Bearer tok' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    // A multipart file just over the limit, inside a body within the allowance.
    const justOver = await put(
      request,
      multipart([['picture', new Blob([new Uint8Array(config.http.maxUploadBytes + 1)]), 'x.png']]),
    );
    expect(justOver.status).toBe(413);
    expect(uploads(calls)).toEqual([]);
  });

  it('should answer malformed multipart, a missing field and an empty body with 400', async () => {
    const { request, calls } = setup();
    const cases: [BodyInit, Record<string, string>][] = [
      [
        '--x\r\nContent-Disposition: form-data; name="picture"\r\n\r\nunterminated',
        {
          'content-type': 'multipart/form-data; boundary=x',
        },
      ],
      ['whatever', { 'content-type': 'multipart/form-data' }],
      [multipart([['other', new Blob(['x']), 'x.png']]), {}],
      [multipart([['picture', 'text, not a file']]), {}],
      [new Uint8Array(), { 'content-type': 'image/png' }],
    ];
    for (const [body, headers] of cases) {
      const res = await put(request, body, headers);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'INVALID_ARGUMENT',
      );
    }
    expect(uploads(calls)).toEqual([]);
  });

  it('should check the session first, and forward nothing without one', async () => {
    // (That the body is not even read is shown over a real socket in test/pictures.test.ts.)
    const { request, calls } = setup((name) => {
      if (name === 'getProfile') throw new RpcError(Status.UNAUTHENTICATED, 'not logged in');
      return undefined;
    });
    const res = await put(request, new Uint8Array([1, 2, 3]), { authorization: 'Bearer stale' });
    expect(res.status).toBe(401);
    expect(calls.map((c) => [c.name, c.input])).toEqual([
      ['getProfile', { auth: { token: 'stale' } }],
    ]);
  });

  it('should survive a multipart body of 1000 parts with a 4xx or by using the one it needs', async () => {
    const { request } = setup();
    const parts: [string, string | Blob, string?][] = [];
    for (let i = 0; i < 1000; i++) parts.push([`f${i}`, 'x']);
    const without = await put(request, multipart(parts));
    expect(without.status).toBe(400);
    parts.push(['picture', new Blob([new Uint8Array([1])]), 'p.png']);
    expect((await put(request, multipart(parts))).status).toBe(200);
  });
});

describe('unit: sessions and renewal', () => {
  const SESSIONS = [
    {
      id: 'h'.repeat(22),
      browser: 'Firefox 128',
      system: 'Linux',
      address: '192.0.2.7',
      createdAtMs: BigInt(Date.UTC(2026, 11, 3, 9, 41)),
      expiresAtMs: BigInt(Date.UTC(2026, 11, 4, 9, 41)),
      current: true,
      persistent: false,
    },
    {
      id: 'k'.repeat(22),
      browser: '<b>Evil</b>',
      system: '',
      address: '',
      createdAtMs: BigInt(Date.UTC(2026, 11, 1, 8, 0)),
      expiresAtMs: BigInt(Date.UTC(2026, 11, 31, 8, 0)),
      current: false,
      persistent: true,
    },
  ];
  const renewed = {
    token: 'renewed',
    expiresAtMs: BigInt(Date.now() + 3_600_000),
    persistent: true,
  };

  it('should list the sessions on the profile page, this one marked, each with its own log-out form', async () => {
    const { request } = setup((name) =>
      name === 'listSessions' ? { sessions: SESSIONS } : undefined,
    );
    const html = await (await request('/profile', { headers: { cookie } })).text();
    expect(html).toContain('Where you&#39;re logged in');
    expect(html).toContain('Firefox 128 on Linux <strong class="tag">This session</strong>');
    expect(html).toContain('From 192.0.2.7, since <time datetime="2026-12-03T09:41:00.000Z">');
    expect(html).toContain('2026-12-03 09:41 UTC');
    // What a client sent is shown as text.
    expect(html).toContain('&lt;b&gt;Evil&lt;/b&gt;');
    expect(html).not.toContain('<b>Evil</b>');
    expect(html).toContain('From an unknown address');
    expect(html).toContain(', kept logged in');
    const forms = html.match(/<form method="post" action="\/profile\/sessions\/end">.*?<\/form>/g);
    expect(forms).toHaveLength(2);
    expect(forms?.[1]).toContain('<input type="hidden" name="csrf" value="csrf-of-session"/>');
    expect(forms?.[1]).toContain(`<input type="hidden" name="session" value="${'k'.repeat(22)}"/>`);
    expect(html).toContain('action="/profile/logout-all"');
  });

  it('should say that older sessions may exist when the list is full, and only then', async () => {
    const full = Array.from({ length: MAX_LISTED_SESSIONS }, (_, i) => ({
      ...SESSIONS[1],
      id: String(i).padStart(22, 'k'),
    }));
    for (const [sessions, shown] of [
      [full, true],
      [full.slice(1), false],
    ] as const) {
      const { request } = setup((name) => (name === 'listSessions' ? { sessions } : undefined));
      const html = await (await request('/profile', { headers: { cookie } })).text();
      expect([sessions.length, html.includes('id="sessions-more"')]).toEqual([
        sessions.length,
        shown,
      ]);
    }
  });

  // Regression (a browser audit): the hint said nothing of the pixel bound, which the
  // TCP server holds, so a 50-megapixel photo under 5 MiB was refused unannounced.
  it("should state the picture's bounds the TCP server tells, and only those", async () => {
    const told = await (await setup().request('/profile', { headers: { cookie } })).text();
    expect(told).toContain('JPEG, PNG, WebP or GIF, up to 64 KiB and 40 megapixels.');
    const { request } = setup((name) =>
      name === 'getAccountRules' ? { ...RULES, pictureMaxPixels: 0 } : undefined,
    );
    const older = await (await request('/profile', { headers: { cookie } })).text();
    expect(older).toContain('JPEG, PNG, WebP or GIF, up to 64 KiB. It is cropped');
  });

  it('should call the session reading the page this browser when the list no longer knows its details', async () => {
    const unknownCurrent = { ...SESSIONS[0], browser: '', system: '', address: '', current: true };
    const { request } = setup((name) =>
      name === 'listSessions' ? { sessions: [unknownCurrent] } : undefined,
    );
    const html = await (await request('/profile', { headers: { cookie } })).text();
    expect(html).toContain('This browser <strong class="tag">This session</strong>');
    expect(html).not.toContain('An unknown browser');
    expect(html).not.toContain('unknown address');
    expect(html).toContain('Since <time');
  });

  it('should still show the profile when the list cannot be read', async () => {
    const { request } = setup((name) => {
      if (name === 'listSessions') throw new RpcError(Status.UNAVAILABLE, 'down');
    });
    const res = await request('/profile', { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('id="sessions-unavailable"');
  });

  it('should ask for a renewal only with a cookie, and set the renewed token as the cookie', async () => {
    const { request, calls } = setup((name) =>
      name === 'getProfile' ? { user: USER, csrfToken: 'c', renewed } : undefined,
    );
    const page = await request('/profile', { headers: { cookie } });
    expect(calls.find((c) => c.name === 'getProfile')?.input).toMatchObject({ renew: true });
    const set = page.headers.getSetCookie().find((c) => c.startsWith('session='));
    expect(set).toMatch(/^session=renewed; Max-Age=(359\d|3600); Path=\/; HttpOnly; SameSite=Lax$/);

    const api = await request('/api/v1/me', { headers: { cookie } });
    expect(api.headers.getSetCookie().some((c) => c.startsWith('session=renewed;'))).toBe(true);
    calls.length = 0;
    const bearer = await request('/api/v1/me', { headers: { authorization: 'Bearer tok' } });
    expect(calls[0]?.input).toMatchObject({ renew: false });
    expect(bearer.headers.getSetCookie().some((c) => c.startsWith('session='))).toBe(false);
  });

  it('should end a session from its form, and log out when it was this one', async () => {
    let current = false;
    const { request, calls } = setup((name) => (name === 'endSession' ? { current } : undefined));
    const post = () =>
      request('/profile/sessions/end', {
        method: 'POST',
        headers: { cookie },
        body: form({ csrf: 'c', session: 'k'.repeat(22) }),
      });
    const other = await post();
    expect(other.headers.get('location')).toBe('/profile');
    expect(calls[0]).toEqual({
      name: 'endSession',
      input: { auth: { token: 'tok', csrfToken: 'c' }, id: 'k'.repeat(22) },
    });
    expect(other.headers.getSetCookie().some((c) => c.startsWith('session='))).toBe(false);
    current = true;
    const own = await post();
    expect(own.headers.get('location')).toBe('/login');
    expect(own.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
  });

  it('should say so when the session had already ended', async () => {
    const { request } = setup((name) => {
      if (name === 'endSession') throw new RpcError(Status.NOT_FOUND, 'no such session');
    });
    const res = await request('/profile/sessions/end', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', session: 'gone' }),
    });
    expect(res.headers.get('location')).toBe('/profile');
    const page = await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } });
    expect(await page.text()).toContain('That session had already ended');
  });

  it('should answer the JSON list and end sessions with 204, clearing the cookie only for this one', async () => {
    let current = false;
    const { request, calls } = setup((name) => {
      if (name === 'listSessions') return { sessions: SESSIONS };
      if (name === 'endSession') return { current };
      return undefined;
    });
    const list = await request('/api/v1/me/sessions', { headers: { cookie } });
    expect(await list.json()).toEqual({
      sessions: [
        {
          id: 'h'.repeat(22),
          browser: 'Firefox 128',
          system: 'Linux',
          address: '192.0.2.7',
          created_at: '2026-12-03T09:41:00.000Z',
          expires_at: '2026-12-04T09:41:00.000Z',
          current: true,
          remember: false,
        },
        {
          id: 'k'.repeat(22),
          browser: '<b>Evil</b>',
          system: null,
          address: null,
          created_at: '2026-12-01T08:00:00.000Z',
          expires_at: '2026-12-31T08:00:00.000Z',
          current: false,
          remember: true,
        },
      ],
    });
    const ended = await request(`/api/v1/me/sessions/${'k'.repeat(22)}`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer tok' },
    });
    expect(ended.status).toBe(204);
    expect(ended.headers.getSetCookie()).toEqual([]);
    expect(calls.at(-1)?.input).toEqual({ auth: { token: 'tok' }, id: 'k'.repeat(22) });
    // An id no session can have is sent empty: the TCP server answers 404 as for any other.
    await request(`/api/v1/me/sessions/${'x'.repeat(100)}`, {
      method: 'DELETE',
      headers: { cookie },
    });
    expect(calls.at(-1)?.input).toMatchObject({ id: '' });
    current = true;
    const own = await request(`/api/v1/me/sessions/${'h'.repeat(22)}`, {
      method: 'DELETE',
      headers: { cookie },
    });
    expect(own.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
  });

  it('should sum up the errors of a profile form at the top, linked, focused, and say so in the title', async () => {
    const { request } = setup((name) => {
      if (name === 'changePassword')
        throw new RpcError(Status.INVALID_ARGUMENT, 'password must be hard to guess', {
          field: 'new_password',
        });
    });
    const res = await request('/profile/password', {
      method: 'POST',
      headers: { cookie },
      body: form({ csrf: 'c', current_password: 'a', new_password: 'b', new_password2: 'b' }),
    });
    const html = await (
      await request('/profile', { headers: { cookie: `${cookie}; ${flashOf(res)}` } })
    ).text();
    expect(html).toContain('<title>Error: Your profile · usermgr</title>');
    expect(html).toMatch(
      /<div class="error-summary" id="error-summary" role="alert"[^>]*autofocus/,
    );
    expect(html).toContain(
      '<a href="#new_password">Change password: password must be hard to guess.</a>',
    );
    expect(html).toMatch(
      /id="new_password"[^>]*aria-describedby="new_password-rule new_password-error"/,
    );
    // The summary takes the focus, no field does.
    expect(html.match(/autofocus/g)).toHaveLength(1);
  });
});
