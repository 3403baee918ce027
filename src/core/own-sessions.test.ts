import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { temporarySqliteStore } from '../../test/support/sqlite-store.ts';
import { Deadline } from '../lib/deadline.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { silentLogger } from '../log.ts';
import { Status } from '../wire/status.ts';
import { Accounts } from './accounts.ts';
import { cheap, HeldPasswords } from './accounts-fixture.ts';
import { CachedUsers } from './cached-users.ts';
import { CredentialMemo } from './credential-memo.ts';
import { DeviceCookies } from './device-cookies.ts';
import { IdGenerator } from './ids.ts';
import { LoginTickets } from './login-tickets.ts';
import { OwnSessions } from './own-sessions.ts';
import { Passwords } from './passwords.ts';
import { RateLimits } from './rate-limits.ts';
import { Revocations } from './revocations.ts';
import { SessionList } from './session-list.ts';
import { SessionTokens } from './session-tokens.ts';
import { SpentTickets } from './spent-tickets.ts';
import { SecretBox, totpKey } from './totp-keys.ts';
import { TwoStep } from './two-step.ts';

const HOUR = 3_600_000;
const SECRET = 'unit-test-secret'.padEnd(40, '!');
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const caller = { requestId: 'req-1', clientIp: '203.0.113.9' };
const deadline = () => Deadline.after(10_000);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The services over SQLite and no cache: sessions of 1 h, or 10 h kept logged in. */
async function services(
  passwords = new Passwords({ memoryKiB: 1024, timeCost: 1, concurrency: 2, maxWaiting: 64 }),
) {
  const { store, dispose } = await temporarySqliteStore();
  const clock = { now: Date.UTC(2026, 11, 3) };
  const now = () => clock.now;
  const bypass = new Semaphore(4, 4);
  const users = new CachedUsers(
    store,
    null,
    bypass,
    { ttlMs: 1000, negativeTtlMs: 1000, tombstoneMs: 1000 },
    silentLogger,
  );
  const limits = new RateLimits(
    null,
    { userLimit: 1000, userWindowMs: 60_000, userBaseDelayMs: 1, ipPerSecond: 1e6, ipBurst: 1e6 },
    silentLogger,
    now,
  );
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const revocations = new Revocations(store, null, bypass, silentLogger);
  const tokens = new SessionTokens([SECRET], HOUR, 10 * HOUR);
  const sessions = new SessionList(store, null, silentLogger, { flushMs: 60_000 }, now);
  const accounts = new Accounts({
    store,
    users,
    revocations,
    passwords,
    memo: new CredentialMemo({ ttlMs: 60_000, maxEntries: 100, now }),
    tokens,
    devices: new DeviceCookies([SECRET], 86_400_000),
    ids: new IdGenerator(1, now),
    limits,
    sessions,
    twoStep: new TwoStep({
      store,
      users,
      limits,
      box: new SecretBox([totpKey(SECRET)]),
      tickets: new LoginTickets([SECRET]),
      spent: new SpentTickets(null),
      issuer: 'usermgr',
      now,
    }),
    log,
    now,
  });
  const own = new OwnSessions({ accounts, sessions, revocations, tokens, limits, now });
  cleanups.push(async () => {
    await sessions.close();
    await dispose();
  });
  const audit = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.audit === 'account');
  await accounts.register({ username: 'sam', password: 'correct horse', nickname: '' }, deadline());
  const login = (userAgent: string, remember = false) => {
    clock.now += 1;
    return accounts.login(
      { username: 'sam', password: 'correct horse', userAgent, remember },
      deadline(),
      '198.51.100.7',
    );
  };
  return { accounts, own, tokens, sessions, store, clock, login, audit };
}

describe('unit: OwnSessions (SQLite store, no cache)', () => {
  it('should issue a longer session with "keep me logged in"', async () => {
    const { login, clock } = await services();
    const plain = await login(FIREFOX);
    const kept = await login(CHROME, true);
    expect(plain.claims).toMatchObject({ persistent: false, expiresAtMs: clock.now - 1 + HOUR });
    expect(kept.claims).toMatchObject({ persistent: true, expiresAtMs: clock.now + 10 * HOUR });
  });

  it('should list the live sessions newest first, with browser, system and address, this one marked', async () => {
    const { login, own, tokens } = await services();
    const firefox = await login(FIREFOX);
    const chrome = await login(CHROME, true);
    const listed = await own.list({ token: firefox.token }, deadline());
    expect(listed).toEqual([
      {
        id: tokens.handle(chrome.claims.sessionId),
        browser: 'Chrome 126',
        system: 'Windows',
        address: '198.51.100.7',
        createdAtMs: chrome.claims.issuedAtMs,
        expiresAtMs: chrome.claims.expiresAtMs,
        current: false,
        persistent: true,
      },
      {
        id: tokens.handle(firefox.claims.sessionId),
        browser: 'Firefox 128',
        system: 'Linux',
        address: '198.51.100.7',
        createdAtMs: firefox.claims.issuedAtMs,
        expiresAtMs: firefox.claims.expiresAtMs,
        current: true,
        persistent: false,
      },
    ]);
    // Handles are not session ids, and not tokens.
    for (const { id } of listed) {
      expect([firefox.claims.sessionId, chrome.claims.sessionId]).not.toContain(id);
    }
  });

  it('should end another session at once, by its handle, once, with an audit line', async () => {
    const { login, own, accounts, tokens, audit } = await services();
    const mine = await login(FIREFOX);
    const other = await login(CHROME);
    const handle = tokens.handle(other.claims.sessionId);
    expect(await own.end({ token: mine.token }, handle, deadline(), caller)).toEqual({
      current: false,
    });
    await expect(accounts.profile({ token: other.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect((await own.list({ token: mine.token }, deadline())).map((s) => s.id)).toEqual([
      tokens.handle(mine.claims.sessionId),
    ]);
    await expect(own.end({ token: mine.token }, handle, deadline(), caller)).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
    // A session id or a token is no handle.
    for (const wrong of [other.claims.sessionId, other.token, '']) {
      await expect(own.end({ token: mine.token }, wrong, deadline(), caller)).rejects.toMatchObject(
        { code: Status.NOT_FOUND },
      );
    }
    expect(audit().map((line) => [line.action, line.result, line.username])).toEqual([
      ['end-session', 'OK', 'sam'],
      ['end-session', 'NOT_FOUND', 'sam'],
      ['end-session', 'NOT_FOUND', 'sam'],
      ['end-session', 'NOT_FOUND', 'sam'],
      ['end-session', 'NOT_FOUND', 'sam'],
    ]);
  });

  it("should end the caller's own session and say so", async () => {
    const { login, own, accounts, tokens } = await services();
    const mine = await login(FIREFOX);
    const handle = tokens.handle(mine.claims.sessionId);
    expect(await own.end({ token: mine.token }, handle, deadline(), caller)).toEqual({
      current: true,
    });
    await expect(accounts.profile({ token: mine.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
  });

  it('should check the anti-CSRF token of a form that ends a session', async () => {
    const { login, own, tokens } = await services();
    const mine = await login(FIREFOX);
    const other = await login(CHROME);
    const auth = { token: mine.token, csrfToken: 'forged' };
    await expect(
      own.end(auth, tokens.handle(other.claims.sessionId), deadline(), caller),
    ).rejects.toMatchObject({ code: Status.PERMISSION_DENIED });
  });

  it('should renew a session in use once a quarter of its life has passed, and the list with it', async () => {
    const { login, accounts, own, clock } = await services();
    const first = await login(FIREFOX, true);
    expect((await accounts.profile({ token: first.token }, deadline(), true)).renewed).toBeNull();
    clock.now += 3 * HOUR;
    // Not asked (a bearer token): no renewal.
    expect((await accounts.profile({ token: first.token }, deadline())).renewed).toBeNull();
    const { renewed } = await accounts.profile({ token: first.token }, deadline(), true);
    expect(renewed?.claims).toEqual({ ...first.claims, expiresAtMs: clock.now + 10 * HOUR });
    const [shown] = await own.list({ token: renewed?.token as string }, deadline());
    expect(shown).toMatchObject({ current: true, expiresAtMs: clock.now + 10 * HOUR });
    expect(shown?.browser).toBe('Firefox 128');
    // Past the first token's expiry, the renewed one still works.
    clock.now += 8 * HOUR;
    await expect(accounts.profile({ token: first.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect(
      (await accounts.profile({ token: renewed?.token as string }, deadline())).user.username,
    ).toBe('sam');
  });

  it('should keep refusing a renewed token of a session ended with an older token', async () => {
    const { login, accounts, clock } = await services();
    const old = await login(FIREFOX);
    clock.now += HOUR / 2;
    const { renewed } = await accounts.profile({ token: old.token }, deadline(), true);
    await accounts.logout({ token: old.token }, deadline());
    // Past the old token's expiry (when its own revocation would have lapsed), not the renewed one's.
    clock.now += (3 * HOUR) / 4;
    await expect(
      accounts.profile({ token: renewed?.token as string }, deadline()),
    ).rejects.toMatchObject({ code: Status.UNAUTHENTICATED });
  });

  it('should list no session ended by "log out everywhere" or a password change', async () => {
    const { login, accounts, own } = await services();
    const a = await login(FIREFOX);
    await login(CHROME);
    await accounts.logoutAll({ token: a.token }, deadline());
    const b = await login(FIREFOX);
    expect((await own.list({ token: b.token }, deadline())).length).toBe(1);
    const changed = await accounts.changePassword(
      { token: b.token },
      {
        currentPassword: 'correct horse',
        newPassword: 'a much better passphrase',
        userAgent: CHROME,
      },
      deadline(),
      caller,
    );
    const after = await own.list({ token: changed.token }, deadline());
    expect(after).toEqual([
      expect.objectContaining({ current: true, browser: 'Chrome 126', address: caller.clientIp }),
    ]);
  });

  it('should list no session of a login whose slow hash ran while "log out everywhere" landed', async () => {
    const passwords = new HeldPasswords(cheap);
    const { accounts, own, clock } = await services(passwords);
    const release = async () => {
      while (passwords.held.length === 0) await Bun.sleep(1);
      (passwords.held.shift() as () => void)();
    };
    const sam = { username: 'sam', password: 'correct horse', userAgent: FIREFOX };
    const first = accounts.login(sam, deadline(), '198.51.100.7');
    await release();
    const { token } = await first;
    clock.now += 61_000; // past the memo's minute: the next login hashes again
    // A login reads the user and starts its slow hash...
    const racing = accounts.login({ ...sam, userAgent: CHROME }, deadline(), '198.51.100.8');
    while (passwords.held.length === 0) await Bun.sleep(1);
    // ..."log out everywhere" lands meanwhile...
    clock.now += 10;
    await accounts.logoutAll({ token }, deadline());
    // ...and the hash answers later: its session is refused, and not listed either.
    clock.now += 10;
    await release();
    const late = await racing;
    await expect(accounts.profile({ token: late.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    clock.now += 10;
    const after = await accounts.login(sam, deadline(), '198.51.100.9');
    const listed = await own.list({ token: after.token }, deadline());
    expect(listed.map((s) => s.address)).toEqual(['198.51.100.9']);
  });

  it("should show the caller's own session even when the list has lost it", async () => {
    const { login, own, sessions, tokens } = await services();
    const mine = await login(FIREFOX, true);
    await sessions.forget(mine.claims.userId, Number.MAX_SAFE_INTEGER);
    expect(await own.list({ token: mine.token }, deadline())).toEqual([
      {
        id: tokens.handle(mine.claims.sessionId),
        browser: '',
        system: '',
        address: '',
        createdAtMs: mine.claims.issuedAtMs,
        expiresAtMs: mine.claims.expiresAtMs,
        current: true,
        persistent: true,
      },
    ]);
  });

  it('should throttle listings and endings per user', async () => {
    const { login, own } = await services();
    const mine = await login(FIREFOX);
    for (let i = 0; i < 30; i++) await own.list({ token: mine.token }, deadline());
    await expect(own.list({ token: mine.token }, deadline())).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    await expect(own.end({ token: mine.token }, 'x', deadline(), caller)).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
  });

  it("should take a deleted account's sessions off every list", async () => {
    const { login, accounts, store, sessions } = await services();
    const mine = await login(FIREFOX);
    await sessions.flush();
    const deleted = await accounts.deleteAccount(
      { token: mine.token },
      { password: 'correct horse' },
      deadline(),
      caller,
    );
    expect(deleted.username).toBe('sam');
    await sessions.flush();
    expect(await store.listSessions(deleted.id, 0, 10)).toEqual([]);
  });
});
