/**
 * Two-step login in the HTTP server through app.request(), with a fake RPC
 * client: the API's shapes, the pages' forms, cookies and redirects. What
 * the TCP server decides is in src/core/two-step.test.ts and the
 * integration tests.
 */
import { describe, expect, it } from 'bun:test';
import { loadHttpConfig } from '../config/http-config.ts';
import { silentLogger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';
import type { CallName } from '../wire/calls.ts';
import { MESSAGES } from '../wire/messages.ts';
import { invalidArgument, RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { createApp } from './app.ts';

const USER = {
  id: '1',
  username: 'alice',
  nickname: 'Alice',
  picture: '',
  createdAtMs: 0n,
  updatedAtMs: 0n,
};
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const URL_OF_SECRET = `otpauth://totp/usermgr:alice?secret=${SECRET}&issuer=usermgr`;
const SESSION = {
  token: 'tok',
  expiresAtMs: BigInt(Date.now() + 60_000),
  deviceCookie: 'dev',
  deviceCookieExpiresAtMs: BigInt(Date.now() + 86_400_000),
};
const STEP = { ticket: 'ticket.abc', csrfToken: 'csrf-of-ticket', expiresAtMs: 0n };

type Answer = (name: CallName, input: Record<string, unknown>) => unknown;

function setup(answer: Answer = () => undefined) {
  const calls: { name: CallName; input: Record<string, unknown> }[] = [];
  const rpc: RpcClient = {
    async call(name, input) {
      calls.push({ name, input: input as Record<string, unknown> });
      const special = answer(name, input as Record<string, unknown>);
      if (special instanceof Error) throw special;
      if (special !== undefined) return special as never;
      switch (name) {
        case 'getProfile':
          return { user: USER, csrfToken: 'csrf-of-session' } as never;
        case 'getAccountRules':
          return {} as never;
        case 'getTotp':
          return { enabled: false, recoveryCodesLeft: 0 } as never;
        case 'startTotp':
          return { secret: SECRET, otpauthUrl: URL_OF_SECRET } as never;
        case 'confirmTotp':
          return { recoveryCodes: ['aaaa-bbbb-cccc-dddd', 'eeee-ffff-gggg-hhhh'] } as never;
        case 'login':
        case 'completeLogin':
          return SESSION as never;
        default:
          return {} as never;
      }
    },
  };
  const app = createApp({
    rpc,
    http: loadHttpConfig({}).http,
    log: silentLogger,
  });
  const request = (path: string, init: RequestInit = {}, scheme = 'http') =>
    app.request(`${scheme}://localhost${path}`, init);
  return { request, calls };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields);
const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json', authorization: 'Bearer tok' },
  body: JSON.stringify(body),
});
const stepCookie = `login-step=${STEP.csrfToken}~${STEP.ticket}`;
const flashOf = (res: Response) =>
  JSON.parse(
    Buffer.from(
      /flash=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? '',
      'base64url',
    ).toString() || '{}',
  );

describe('unit: two-step login API routes', () => {
  it('should start, confirm and turn off with the documented shapes', async () => {
    const { request, calls } = setup();
    const start = await request('/api/v1/me/totp', {
      method: 'POST',
      headers: { authorization: 'Bearer tok' },
    });
    expect(await start.json()).toEqual({ secret: SECRET, otpauth_url: URL_OF_SECRET });
    const confirm = await request(
      '/api/v1/me/totp/confirm',
      json('POST', { code: '123456', password: 'pw' }),
    );
    expect(await confirm.json()).toEqual({
      recovery_codes: ['aaaa-bbbb-cccc-dddd', 'eeee-ffff-gggg-hhhh'],
    });
    const off = await request('/api/v1/me/totp', json('DELETE', { password: 'pw', code: '1' }));
    expect(off.status).toBe(204);
    expect(calls.map((c) => [c.name, c.input])).toEqual([
      ['startTotp', { auth: { token: 'tok' } }],
      ['confirmTotp', { auth: { token: 'tok' }, code: '123456', password: 'pw' }],
      ['disableTotp', { auth: { token: 'tok' }, password: 'pw', code: '1' }],
    ]);
  });

  it('should pass the code of a login on, and answer OTP_REQUIRED as a 401 with that code', async () => {
    const { request, calls } = setup((name) =>
      name === 'login'
        ? new RpcError(Status.OTP_REQUIRED, MESSAGES.OTP_REQUIRED, { field: 'otp' })
        : undefined,
    );
    const res = await request(
      '/open_api/v1/authenticate',
      json('POST', { username: 'alice', password: 'pw', otp: '123 456' }),
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: {
        code: 'OTP_REQUIRED',
        message: MESSAGES.OTP_REQUIRED,
        field: 'otp',
        fields: { otp: MESSAGES.OTP_REQUIRED },
      },
    });
    expect(calls[0]?.input).toMatchObject({ otp: '123 456' });
    // The API never asks for the pages' ticket.
    expect(calls[0]?.input.wantTicket).toBeUndefined();
  });
});

describe('unit: the second step of a login on the pages', () => {
  it('should answer a right password of such an account with the code page, a ticket in a strict cookie and no session', async () => {
    const { request } = setup((name) =>
      name === 'login'
        ? { secondStep: { ...STEP, expiresAtMs: BigInt(Date.now() + 300_000) } }
        : undefined,
    );
    const res = await request('/login', {
      method: 'POST',
      body: form({ username: ' alice', password: 'correct horse', remember: 'yes' }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login/code');
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    // The ticket's 300 s and 15 minutes more, to fill the login form in again once it
    // expired; the ticket's end, for the code's page.
    expect(cookies[0]).toMatch(
      /^login-step=csrf-of-ticket~ticket\.abc~alice~1~\d{13}; Max-Age=(119\d|1200); Path=\/; HttpOnly; SameSite=Strict$/,
    );
    expect(cookies.join()).not.toContain('correct horse');
  });

  it("should show the code form with the ticket's anti-CSRF token, and never a password field", async () => {
    const { request } = setup();
    const page = await request('/login/code', { headers: { cookie: stepCookie } });
    const html = await page.text();
    expect(html).toContain('<input type="hidden" name="csrf" value="csrf-of-ticket"/>');
    expect(html).toContain('autocomplete="one-time-code"');
    expect(html).not.toContain('type="password"');
    const without = await request('/login/code');
    expect(without.status).toBe(303);
    expect(without.headers.get('location')).toBe('/login');
  });

  it('should log in with the ticket from the cookie and the code and token from the form', async () => {
    const { request, calls } = setup();
    const res = await request('/login/code', {
      method: 'POST',
      headers: { cookie: `${stepCookie}; device=old-device` },
      body: form({ csrf: 'csrf-of-ticket', code: '123456' }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/profile');
    const cookies = res.headers.getSetCookie().join('\n');
    expect(cookies).toContain('session=tok;');
    expect(cookies).toMatch(/login-step=; Max-Age=0/);
    expect(calls[0]).toEqual({
      name: 'completeLogin',
      input: {
        ticket: 'ticket.abc',
        csrfToken: 'csrf-of-ticket',
        otp: '123456',
        currentToken: '',
        deviceCookie: 'old-device',
        userAgent: '',
      },
    });
  });

  it('should keep the ticket for a wrong code, and send an expired one back to the password', async () => {
    const wrong = setup(
      () => new RpcError(Status.OTP_REQUIRED, MESSAGES.WRONG_OTP, { field: 'otp' }),
    );
    const again = await wrong.request('/login/code', {
      method: 'POST',
      headers: { cookie: stepCookie },
      body: form({ csrf: 'csrf-of-ticket', code: '000000' }),
    });
    expect(again.headers.get('location')).toBe('/login/code');
    expect(flashOf(again).fields).toEqual({ code: MESSAGES.WRONG_OTP });
    expect(again.headers.get('set-cookie')).not.toContain('login-step');
    const expired = setup(() => new RpcError(Status.UNAUTHENTICATED, MESSAGES.TICKET_EXPIRED));
    const res = await expired.request('/login/code', {
      method: 'POST',
      headers: { cookie: stepCookie },
      body: form({ csrf: 'csrf-of-ticket', code: '123456' }),
    });
    expect(res.headers.get('location')).toBe('/login');
    expect(flashOf(res).error).toBe(MESSAGES.TICKET_EXPIRED);
    expect(res.headers.get('set-cookie')).toMatch(/login-step=; Max-Age=0/);
    // Regression (a browser audit): the login form came back empty, "keep me logged in"
    // unticked; the cookie now carries what was typed.
    const typed = await expired.request('/login/code', {
      method: 'POST',
      headers: { cookie: `${stepCookie}~alice~1` },
      body: form({ csrf: 'csrf-of-ticket', code: '123456' }),
    });
    expect(flashOf(typed).values).toEqual({ username: 'alice', remember: 'yes' });
    // Nothing but a username is put back in the form.
    const forged = await expired.request('/login/code', {
      method: 'POST',
      headers: { cookie: `${stepCookie}~<script>~1` },
      body: form({ csrf: 'csrf-of-ticket', code: '123456' }),
    });
    expect(flashOf(forged).values).toEqual({ username: '', remember: 'yes' });
    // The code's page past the ticket's end sends the browser back at once, filled in.
    const late = await expired.request('/login/code', {
      headers: { cookie: `${stepCookie}~alice~~${Date.now() - 1000}` },
    });
    expect([late.headers.get('location'), flashOf(late).error]).toEqual([
      '/login',
      MESSAGES.TICKET_EXPIRED,
    ]);
    expect(flashOf(late).values).toEqual({ username: 'alice', remember: '' });
    const early = await expired.request('/login/code', {
      headers: { cookie: `${stepCookie}~alice~~${Date.now() + 60_000}` },
    });
    expect(early.status).toBe(200);
    // No login waiting: said so, not "took too long".
    const none = await expired.request('/login/code', {
      method: 'POST',
      body: form({ csrf: 'csrf-of-ticket', code: '123456' }),
    });
    expect(flashOf(none).error).toBe(MESSAGES.NO_LOGIN_STEP);
  });

  // Regression (a browser audit): Back from the profile after the code was accepted
  // showed "No login is waiting for a code here" to a person logged in.
  it('should send a signed-in browser back at the code page to its profile, and only it', async () => {
    const { request } = setup();
    const back = await request('/login/code', { headers: { cookie: 'session=the-token' } });
    expect([back.status, back.headers.get('location')]).toEqual([303, '/profile']);
    const stranger = await request('/login/code');
    expect([stranger.headers.get('location'), flashOf(stranger).error]).toEqual([
      '/login',
      MESSAGES.NO_LOGIN_STEP,
    ]);
  });

  it('should use the __Host- cookie over HTTPS', async () => {
    const { request } = setup((name) =>
      name === 'login'
        ? { secondStep: { ...STEP, expiresAtMs: BigInt(Date.now() + 300_000) } }
        : undefined,
    );
    const res = await request(
      '/login',
      { method: 'POST', body: form({ username: 'alice', password: 'pw' }) },
      'https',
    );
    expect(res.headers.get('set-cookie')).toMatch(
      /^__Host-login-step=.*; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    // Over HTTPS only the prefixed cookie counts.
    const page = await request('/login/code', { headers: { cookie: stepCookie } }, 'https');
    expect(page.status).toBe(303);
  });
});

describe('unit: setting two-step login up and off on the pages', () => {
  it('should offer to set it up, or to turn it off with the recovery codes left', async () => {
    const off = await (
      await setup().request('/profile', { headers: { cookie: 'session=tok' } })
    ).text();
    expect(off).toContain('<form method="post" action="/profile/totp">');
    const on = setup((name) =>
      name === 'getTotp' ? { enabled: true, recoveryCodesLeft: 7 } : undefined,
    );
    const html = await (
      await on.request('/profile', { headers: { cookie: 'session=tok' } })
    ).text();
    expect(html).toContain('<form method="post" action="/profile/totp/disable">');
    expect(html).toContain('7 recovery codes left.');
    expect(html).toContain('name="totp_password"');
    expect(html).toContain('name="totp_code"');
  });

  it('should show the profile without the section when the TCP server is older than two-step login', async () => {
    const { request } = setup((name) =>
      name === 'getTotp'
        ? new RpcError(Status.UNIMPLEMENTED, 'call getTotp is not implemented')
        : undefined,
    );
    const res = await request('/profile', { headers: { cookie: 'session=tok' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('id="shown-username"');
    expect(html).not.toContain('two-step');
  });

  it('should start, then show the QR code as inline SVG and the secret in groups, within the CSP', async () => {
    const { request, calls } = setup((name) =>
      name === 'getTotp'
        ? {
            enabled: false,
            recoveryCodesLeft: 0,
            pending: { secret: SECRET, otpauthUrl: URL_OF_SECRET },
          }
        : undefined,
    );
    const start = await request('/profile/totp', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session' }),
    });
    expect(start.headers.get('location')).toBe('/profile/totp');
    expect(calls[0]).toEqual({
      name: 'startTotp',
      input: { auth: { token: 'tok', csrfToken: 'csrf-of-session' } },
    });
    const page = await request('/profile/totp', { headers: { cookie: 'session=tok' } });
    const html = await page.text();
    expect(html).toMatch(
      /<svg id="totp-qr" class="qr" [^>]*role="img" aria-label="QR code[^"]*alice"/,
    );
    expect(html).toContain('<path d="M');
    expect(html).toContain('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    // A link a phone's app opens, and no field focused before the steps are read.
    expect(html).toContain(`<a href="${URL_OF_SECRET.replace('&', '&amp;')}">`);
    expect(html).not.toContain('autofocus');
    expect(html).toContain('<input type="hidden" name="csrf" value="csrf-of-session"/>');
    // Nothing the pages' CSP would block: no inline script, no style attribute, no data: image.
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('style=');
    expect(html).not.toContain('data:');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('should send the set-up page back to the profile when nothing is being set up', async () => {
    const res = await setup().request('/profile/totp', { headers: { cookie: 'session=tok' } });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/profile');
  });

  it('should show the recovery codes in the answer to the confirmation, uncached, and put a wrong code at its field', async () => {
    const { request } = setup();
    const res = await request('/profile/totp/confirm', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', code: '123456' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<code>aaaa-bbbb-cccc-dddd</code>');
    expect(html).toContain('They are shown only now.');
    const wrong = setup(
      () => new RpcError(Status.INVALID_ARGUMENT, 'the code is wrong', { field: 'code' }),
    );
    const back = await wrong.request('/profile/totp/confirm', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', code: '000000' }),
    });
    expect(back.headers.get('location')).toBe('/profile/totp');
    expect(flashOf(back).fields).toEqual({ code: 'the code is wrong' });
    // The codes' page reloaded posts again: the profile says why there is nothing to show.
    const reloaded = setup(() => new RpcError(Status.ALREADY_EXISTS, MESSAGES.TOTP_ALREADY_ON));
    const again = await reloaded.request('/profile/totp/confirm', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', code: '123456' }),
    });
    expect(again.headers.get('location')).toBe('/profile');
    expect(flashOf(again).error).toBe(MESSAGES.TOTP_CODES_SHOWN);
  });

  it("should send the set-up page's password and code on, and put a wrong password at its field there", async () => {
    const { request, calls } = setup(
      () => new RpcError(Status.UNAUTHENTICATED, 'the password is wrong', { field: 'password' }),
    );
    const res = await request('/profile/totp/confirm', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', code: '123456', password: 'not it' }),
    });
    expect(res.headers.get('location')).toBe('/profile/totp');
    expect(flashOf(res).fields).toEqual({ password: 'the password is wrong' });
    expect(calls[0]?.input).toEqual({
      auth: { token: 'tok', csrfToken: 'csrf-of-session' },
      code: '123456',
      password: 'not it',
    });
    // An ended session (no field) still goes to the login page.
    const ended = setup(() => new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN));
    const out = await ended.request('/profile/totp/confirm', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', code: '123456', password: 'pw' }),
    });
    expect(out.headers.get('location')).toBe('/login');
  });

  it("should put a wrong password or code of turning it off at this form's own fields", async () => {
    for (const [field, shown] of [
      ['password', 'totp_password'],
      ['code', 'totp_code'],
    ]) {
      const { request, calls } = setup(
        () => new RpcError(Status.UNAUTHENTICATED, 'wrong', { field }),
      );
      const res = await request('/profile/totp/disable', {
        method: 'POST',
        headers: { cookie: 'session=tok' },
        body: form({ csrf: 'csrf-of-session', totp_password: 'pw', totp_code: '123456' }),
      });
      expect(res.headers.get('location')).toBe('/profile');
      expect(flashOf(res).fields).toEqual({ [shown as string]: 'wrong' });
      expect(calls[0]?.input).toEqual({
        auth: { token: 'tok', csrfToken: 'csrf-of-session' },
        password: 'pw',
        code: '123456',
      });
    }
    // A refusal of the input (a missing password) lands at this form's field too.
    const missing = setup(() => invalidArgument('password is required', 'password'));
    const refused = await missing.request('/profile/totp/disable', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', totp_password: '', totp_code: '1' }),
    });
    expect(flashOf(refused).fields).toEqual({ totp_password: 'password is required' });
    // No code at all (a page without its script, a hand-made post) is asked for at its field.
    const noCode = setup(
      () => new RpcError(Status.OTP_REQUIRED, MESSAGES.OTP_REQUIRED, { field: 'code' }),
    );
    const asked = await noCode.request('/profile/totp/disable', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'csrf-of-session', totp_password: 'pw', totp_code: '' }),
    });
    expect(asked.headers.get('location')).toBe('/profile');
    expect(flashOf(asked).fields).toEqual({ totp_code: MESSAGES.OTP_REQUIRED });
    const ended = setup(() => new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN));
    const res = await ended.request('/profile/totp/disable', {
      method: 'POST',
      headers: { cookie: 'session=tok' },
      body: form({ csrf: 'x', totp_password: 'pw', totp_code: '1' }),
    });
    expect(res.headers.get('location')).toBe('/login');
  });
});
