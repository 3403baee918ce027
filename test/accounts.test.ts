/**
 * Accounts on the real stack: TCP server + HTTP server, MariaDB and Redis.
 */

import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { SessionTokens } from '../src/core/session-tokens.ts';
import type { UserJson } from '../src/http/user-json.ts';
import { Deadline } from '../src/lib/deadline.ts';
import { bearer, jsonInit, type Stack, startStack } from './fixture.ts';

/** Every JSON answer of the API, loosely: each test reads the part it expects. */
interface Answer {
  token: string;
  user: UserJson;
  error: { code: string; message: string; field?: string; fields?: Record<string, string> };
}

const SECRET = 'test-secret-'.padEnd(48, 'x');
let stack: Stack;
let counter = 0;

beforeAll(async () => {
  stack = await startStack({
    store: 'mysql',
    redis: true,
    env: { SESSION_SECRET: SECRET, CACHE_TTL_S: '1' },
  });
});
afterAll(() => stack?.stop());

function uniqueName(): string {
  return `user_${Date.now().toString(36)}_${counter++}`;
}

async function register(username: string, password = 'correct horse battery', nickname?: string) {
  const res = await stack.fetch(
    '/open_api/v1/register',
    jsonInit('POST', { username, password, nickname }),
  );
  return { status: res.status, body: (await res.json()) as Answer };
}

async function login(username: string, password = 'correct horse battery') {
  const res = await stack.fetch(
    '/open_api/v1/authenticate',
    jsonInit('POST', { username, password }),
  );
  return {
    status: res.status,
    body: (await res.json()) as Answer,
    cookie: res.headers.get('set-cookie'),
  };
}

async function me(token: string) {
  const res = await stack.fetch('/api/v1/me', bearer(token));
  return { status: res.status, body: (await res.json()) as Answer };
}

describe('integration: accounts over MariaDB and Redis', () => {
  it('should register, log in, show the profile and keep a Unicode nickname exactly, across cache expiry and restart', async () => {
    const username = uniqueName();
    const registered = await register(username);
    expect(registered.status).toBe(200);
    expect(registered.body.user).toMatchObject({ username, nickname: username, picture_url: null });
    expect(registered.body.user.id).toMatch(/^\d+$/);

    const session = await login(username);
    expect(session.status).toBe(200);
    const token = session.body.token as string;
    expect(session.cookie).toContain(`session=${token}`);
    expect(session.cookie).toContain('HttpOnly');
    expect(session.cookie).toContain('SameSite=Lax');
    expect(session.cookie).toContain('Path=/');

    expect((await me(token)).body.user).toEqual(registered.body.user);

    const nickname = '名前 🎉 Ünïcödé';
    const patched = await stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname }, token));
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as Answer).user.nickname).toBe(nickname);
    expect((await me(token)).body.user.nickname).toBe(nickname);

    await Bun.sleep(1300); // CACHE_TTL_S=1: the cached record has expired
    expect((await me(token)).body.user.nickname).toBe(nickname);

    await stack.restartTcp();
    expect((await me(token)).body.user.nickname).toBe(nickname);
  });

  it('should accept the session from the cookie as well as from a bearer token', async () => {
    const username = uniqueName();
    await register(username);
    const { body } = await login(username);
    const res = await stack.fetch('/api/v1/me', { headers: { cookie: `session=${body.token}` } });
    expect(res.status).toBe(200);
  });

  it('should end a session on logout, and every session on logout-all', async () => {
    const username = uniqueName();
    await register(username);
    const first = (await login(username)).body.token as string;
    const second = (await login(username)).body.token as string;
    const third = (await login(username)).body.token as string;

    const out = await stack.fetch('/api/v1/logout', bearer(first, 'POST'));
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await me(first)).status).toBe(401);
    expect((await me(second)).status).toBe(200);

    expect((await stack.fetch('/api/v1/logout-all', bearer(second, 'POST'))).status).toBe(200);
    expect((await me(second)).status).toBe(401);
    expect((await me(third)).status).toBe(401);

    // Logging in again right away works.
    const fresh = (await login(username)).body.token as string;
    expect((await me(fresh)).status).toBe(200);
  });

  it('should refuse tokens signed with another secret, truncated, expired or respelled', async () => {
    const username = uniqueName();
    const { body } = await register(username);
    const row = await stack.tcp.store.findById(body.user.id as string);
    const user = {
      id: body.user.id as string,
      username,
      sessionsValidAfterMs: row?.sessionsValidAfterMs ?? 0,
    };
    const token = (await login(username)).body.token as string;
    const foreign = new SessionTokens(['another-secret'.padEnd(40, 'y')], 3_600_000).issue(
      user,
      Date.now(),
    ).token;
    const expired = new SessionTokens([SECRET], 60_000).issue(user, Date.now() - 120_000).token;
    const ours = new SessionTokens([SECRET], 60_000).issue(user, Date.now()).token;
    expect((await me(ours)).status).toBe(200); // the crafted tokens differ only in what is tested
    // The MAC's last character carries two unused bits: set one, and it decodes to the same MAC.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = token.slice(0, -1) + alphabet[alphabet.indexOf(token.at(-1) as string) ^ 1];
    for (const bad of [foreign, token.slice(0, -3), expired, '', 'x'.repeat(10_000), respelled]) {
      const res = await me(bad);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHENTICATED');
    }
    expect((await stack.fetch('/api/v1/me')).status).toBe(401);
  });

  it('should answer unknown user, wrong password and empty password identically, each after a slow hash', async () => {
    const username = uniqueName();
    await register(username);
    const counts = stack.tcp.passwords.counts;
    const answers = [];
    for (const [name, password] of [
      [`nobody_${username}`, 'whatever-password'],
      [username, 'wrong password!'],
      [username, ''],
    ] as const) {
      const before = counts.verify;
      const res = await stack.fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username: name, password }),
      );
      expect(counts.verify - before).toBe(1);
      answers.push({
        status: res.status,
        body: await res.text(),
        cookie: res.headers.get('set-cookie'),
      });
    }
    expect(answers[0]).toEqual({
      status: 401,
      body: JSON.stringify({
        error: { code: 'UNAUTHENTICATED', message: 'invalid username or password' },
      }),
      cookie: null,
    });
    expect(answers[1]).toEqual(answers[0] as (typeof answers)[0]);
    expect(answers[2]).toEqual(answers[0] as (typeof answers)[0]);
  });

  it('should skip argon2 on a repeated correct login, never on a wrong one, and forget when the hash changes', async () => {
    const username = uniqueName();
    const { body } = await register(username);
    const counts = stack.tcp.passwords.counts;
    let before = counts.verify;
    expect((await login(username)).status).toBe(200);
    expect(counts.verify - before).toBe(1);

    before = counts.verify;
    expect((await login(username)).status).toBe(200);
    expect((await login(username)).status).toBe(200);
    expect(counts.verify - before).toBe(0);

    before = counts.verify;
    expect((await login(username, 'wrong password!')).status).toBe(401);
    expect((await login(username, 'wrong password!')).status).toBe(401);
    expect(counts.verify - before).toBe(2);

    // A new password means a new stored hash: the old password's entry can never match.
    const newHash = await stack.tcp.passwords.hash('brand new password', Deadline.after(10_000));
    await stack.tcp.store.updatePassword(body.user.id, newHash, Date.now(), false);
    await stack.tcp.users.invalidate(username);
    before = counts.verify;
    expect((await login(username)).status).toBe(401);
    expect(counts.verify - before).toBe(1);
    expect((await login(username, 'brand new password')).status).toBe(200);
  });

  it('should let exactly one of many concurrent registrations of one username succeed', async () => {
    const username = uniqueName();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => register(i % 2 ? username.toUpperCase() : username)),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
    expect(results.find((r) => r.status === 409)?.body.error).toEqual({
      code: 'ALREADY_EXISTS',
      message: 'this username is already taken',
      field: 'username',
      fields: { username: 'this username is already taken' },
    });
  });

  it('should name a taken username, a weak password and a wrong nickname in one answer', async () => {
    const username = uniqueName();
    expect((await register(username)).status).toBe(200);
    const refused = await register(username.toUpperCase(), 'password', '\u202Eevil');
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'username',
      message: 'this username is already taken',
    });
    const fields = refused.body.error.fields ?? {};
    expect(Object.keys(fields)).toEqual(['username', 'password', 'nickname']);
    expect(fields.password).toStartWith('password must be hard to guess');
    expect(fields.nickname).toContain('text-direction');
    // A free name with the same faults: the rules only.
    const free = await register(uniqueName(), 'password', '\u202Eevil');
    expect(Object.keys(free.body.error.fields ?? {})).toEqual(['password', 'nickname']);
  });

  it('should make an update visible at once through the cache', async () => {
    const username = uniqueName();
    await register(username);
    const token = (await login(username)).body.token as string;
    for (const nickname of ['one', 'two', 'three']) {
      await stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname }, token));
      expect((await me(token)).body.user.nickname).toBe(nickname);
    }
  });

  it('should answer concurrent nickname updates of one user each with its own, and keep one of them in cache and store alike', async () => {
    const username = uniqueName();
    await register(username);
    const token = (await login(username)).body.token as string;
    const names = Array.from({ length: 30 }, (_, i) => `名前 ${i} 🎈`);
    const answers = await Promise.all(
      names.map(async (nickname) => {
        const res = await stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname }, token));
        return { status: res.status, body: (await res.json()) as Answer };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(names.map(() => 200));
    expect(answers.map((a) => a.body.user.nickname)).toEqual(names);
    const kept = (await me(token)).body.user.nickname;
    expect(names).toContain(kept);
    // Past the cache entry's life (CACHE_TTL_S=1), the store answers: the same one.
    await Bun.sleep(1200);
    expect((await me(token)).body.user.nickname).toBe(kept);
  });

  it('should coalesce 100 concurrent misses of one user into one store read, then serve hits', async () => {
    // A user written straight to the store, so the cache has never seen it.
    const username = uniqueName();
    const now = Date.now();
    const row = {
      id: String(now * 1000 + counter),
      username,
      nickname: username,
      passwordHash: 'x',
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: now,
      updatedAtMs: now,
      totpSecret: '',
      version: 0,
    };
    expect(await stack.tcp.store.create(row)).toBe('created');
    const { counts } = stack.tcp.users;
    const reads = counts.storeReads;
    const found = await Promise.all(
      Array.from({ length: 100 }, () => stack.tcp.users.find(username, Deadline.after(5000))),
    );
    expect(found.every((u) => u?.id === row.id)).toBe(true);
    expect(counts.storeReads - reads).toBe(1);
    await Bun.sleep(20); // the cache write is not awaited by find()
    const hits = counts.hits;
    expect((await stack.tcp.users.find(username, Deadline.after(5000)))?.id).toBe(row.id);
    expect(counts.hits - hits).toBe(1);
    expect(counts.storeReads - reads).toBe(1);
  });
});
