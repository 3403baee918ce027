import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { Deadline } from '../lib/deadline.ts';
import { MESSAGES } from '../wire/messages.ts';
import { Status } from '../wire/status.ts';
import {
  cheap,
  disposeServices,
  generousLimits,
  HeldPasswords,
  services,
} from './accounts-fixture.ts';
import { base32Decode } from './base32.ts';
import { LoginTickets } from './login-tickets.ts';
import { SpentTickets } from './spent-tickets.ts';
import { totp } from './totp.ts';
import { SecretBox, totpKey } from './totp-keys.ts';
import { PENDING_TTL_MS, TwoStep } from './two-step.ts';

/** The session that sets two-step login up, in these tests. */
const SID = 'c2Vzc2lvbi1vbmU';

afterEach(disposeServices);

const deadline = () => Deadline.after(10_000);

/**
 * What a call rejected with. Not `expect(promise).rejects`: it waits for the
 * promise without running the event loop, so a login whose slow hash runs on
 * a hash thread never settles.
 */
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => new Error('expected a rejection'),
    (err: unknown) => err,
  );
const PASSWORD = 'correct horse';
const STEP_MS = 30_000;

/** A user with two-step login on: the services, the user, its raw secret and recovery codes. */
async function enrolled(options: Parameters<typeof services>[1] = {}) {
  const s = await services(undefined, options);
  const user = await s.accounts.register(
    { username: 'tessa', password: PASSWORD, nickname: '' },
    deadline(),
  );
  const { secret, otpauthUrl } = await s.twoStep.start(user, SID);
  const key = base32Decode(secret) as Uint8Array;
  const recovery = await s.twoStep.confirm(user, SID, totp(key, s.clock.now));
  // The confirming code used the current step: logins start at the next one.
  s.clock.now += STEP_MS;
  const code = (offsetSteps = 0) => totp(key, s.clock.now + offsetSteps * STEP_MS);
  const login = (otp?: string, password = PASSWORD) =>
    s.accounts.login({ username: 'tessa', password, otp }, deadline());
  return { ...s, user, secret, otpauthUrl, key, recovery, code, login };
}

describe('unit: setting up two-step login', () => {
  it('should give a base32 secret and its key URI, pending until a first code confirms it', async () => {
    const { accounts, twoStep, store } = await services();
    const user = await accounts.register(
      { username: 'ann', password: PASSWORD, nickname: '' },
      deadline(),
    );
    const { secret, otpauthUrl } = await twoStep.start(user, SID);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits, as RFC 4226 recommends
    expect(otpauthUrl).toBe(
      `otpauth://totp/usermgr:ann?secret=${secret}&issuer=usermgr&algorithm=SHA1&digits=6&period=30`,
    );
    expect(await twoStep.state(user, SID)).toEqual({
      enabled: false,
      recoveryCodesLeft: 0,
      pending: { secret, otpauthUrl },
    });
    // Pending: a login needs no code yet.
    await accounts.login({ username: 'ann', password: PASSWORD }, deadline());
    // Stored sealed: neither the base32 nor the bytes appear in the row.
    const pending = await store.totpPending(user.id);
    expect(pending).toMatch(/^1\.[0-9a-f]{8}\./);
    expect(pending).not.toContain(secret);
    expect(pending).not.toContain(
      Buffer.from(base32Decode(secret) as Uint8Array).toString('base64url'),
    );
  });

  it('should refuse a wrong first code, then turn on with a right one and give ten recovery codes', async () => {
    const { accounts, twoStep, store, clock } = await services();
    const user = await accounts.register(
      { username: 'bea', password: PASSWORD, nickname: '' },
      deadline(),
    );
    const key = base32Decode((await twoStep.start(user, SID)).secret) as Uint8Array;
    const wrong = String((Number(totp(key, clock.now)) + 1) % 1_000_000).padStart(6, '0');
    expect(await refusal(twoStep.confirm(user, SID, wrong))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      field: 'code',
    });
    const codes = await twoStep.confirm(user, SID, totp(key, clock.now).replace(/(\d{3})/, '$1 '));
    expect(codes).toHaveLength(10);
    const on = await store.findById(user.id);
    expect(on?.totpSecret).toMatch(/^1\.[0-9a-f]{8}\./);
    expect(await store.totpPending(user.id)).toBe('');
    expect(await twoStep.state(on ?? user, SID)).toEqual({
      enabled: true,
      recoveryCodesLeft: 10,
      pending: null,
    });
    // On: setting up again is refused until it is turned off.
    expect(await refusal(twoStep.start(on ?? user, SID))).toMatchObject({
      code: Status.ALREADY_EXISTS,
      message: MESSAGES.TOTP_ALREADY_ON,
    });
  });

  it('should refuse to confirm without a pending secret, and a code of a secret started over once it expired', async () => {
    const { accounts, twoStep, clock } = await services();
    const user = await accounts.register(
      { username: 'cyd', password: PASSWORD, nickname: '' },
      deadline(),
    );
    expect(await refusal(twoStep.confirm(user, SID, '123456'))).toMatchObject({
      code: Status.NOT_FOUND,
    });
    const first = base32Decode((await twoStep.start(user, SID)).secret) as Uint8Array;
    clock.now += PENDING_TTL_MS;
    await twoStep.start(user, SID);
    expect(await refusal(twoStep.confirm(user, SID, totp(first, clock.now)))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
    });
  });

  it('should show and confirm a pending secret only in the session that started it, within its time', async () => {
    const { accounts, twoStep, clock } = await services();
    const user = await accounts.register(
      { username: 'eve', password: PASSWORD, nickname: '' },
      deadline(),
    );
    const other = 'b3RoZXItc2Vzc2lvbg';
    const key = base32Decode((await twoStep.start(user, SID)).secret) as Uint8Array;
    // Another session of the same user (a stolen one) neither sees it nor confirms it.
    expect((await twoStep.state(user, other)).pending).toBeNull();
    expect(await refusal(twoStep.confirm(user, other, totp(key, clock.now)))).toMatchObject({
      code: Status.NOT_FOUND,
      message: MESSAGES.TOTP_NOT_STARTED,
    });
    // Read on a server whose clock is behind the starting one's: within a minute, no harm.
    clock.now -= 30_000;
    expect((await twoStep.state(user, SID)).pending).not.toBeNull();
    clock.now -= 31_000;
    expect((await twoStep.state(user, SID)).pending).toBeNull();
    clock.now += 61_000;
    // The session that started it still can, until PENDING_TTL_MS has passed.
    clock.now += PENDING_TTL_MS - 1;
    expect((await twoStep.state(user, SID)).pending).not.toBeNull();
    clock.now += 1;
    expect((await twoStep.state(user, SID)).pending).toBeNull();
    expect(await refusal(twoStep.confirm(user, SID, totp(key, clock.now)))).toMatchObject({
      code: Status.NOT_FOUND,
    });
    // Started again, it is on with a code of the new secret; its login needs a code.
    const again = base32Decode((await twoStep.start(user, SID)).secret) as Uint8Array;
    expect(await twoStep.confirm(user, SID, totp(again, clock.now))).toHaveLength(10);
    expect(
      await refusal(accounts.login({ username: 'eve', password: PASSWORD }, deadline())),
    ).toMatchObject({ code: Status.OTP_REQUIRED });
  });

  // Regression (a browser audit): starting again (a second tab, or back and start again)
  // made a new secret without a word, and the code of the one just added was "wrong".
  it('should keep the pending secret, and its time, when the same session starts again', async () => {
    const { accounts, twoStep, clock } = await services();
    const user = await accounts.register(
      { username: 'kay', password: PASSWORD, nickname: '' },
      deadline(),
    );
    const first = (await twoStep.start(user, SID)).secret;
    clock.now += PENDING_TTL_MS - 1000;
    expect((await twoStep.start(user, SID)).secret).toBe(first);
    // Its time was not started over: past it, a start gives a fresh secret, and that one works.
    clock.now += 2000;
    const fresh = (await twoStep.start(user, SID)).secret;
    expect(fresh).not.toBe(first);
    const key = base32Decode(fresh) as Uint8Array;
    expect(await twoStep.confirm(user, SID, totp(key, clock.now))).toHaveLength(10);
    // Another session starting gets a secret of its own, and the first session's is gone.
    const other = await accounts.register(
      { username: 'kay2', password: PASSWORD, nickname: '' },
      deadline(),
    );
    const mine = (await twoStep.start(other, SID)).secret;
    const theirs = (await twoStep.start(other, 'b3RoZXItc2Vzc2lvbg')).secret;
    expect(theirs).not.toBe(mine);
    expect((await twoStep.state(other, SID)).pending).toBeNull();
  });

  it('should throttle the steps of setting up per user: a burst, then one a minute', async () => {
    const { accounts, twoStep, clock } = await services();
    const user = await accounts.register(
      { username: 'dot', password: PASSWORD, nickname: '' },
      deadline(),
    );
    for (let i = 0; i < 10; i++) await twoStep.start(user, SID);
    expect(await refusal(twoStep.start(user, SID))).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    expect(await refusal(twoStep.confirm(user, SID, '000000'))).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    clock.now += 60_000;
    await twoStep.start(user, SID);
  });
});

describe('unit: logging in with two-step login', () => {
  it('should ask for a code only after the right password, and take the current one', async () => {
    const { login, code } = await enrolled();
    expect(await refusal(login())).toMatchObject({
      code: Status.OTP_REQUIRED,
      field: 'otp',
      message: MESSAGES.OTP_REQUIRED,
    });
    // A wrong password says so, code or not: OTP_REQUIRED tells the password is right.
    for (const otp of [undefined, code()]) {
      expect(await refusal(login(otp, 'wrong horse'))).toMatchObject({
        code: Status.UNAUTHENTICATED,
        message: MESSAGES.BAD_CREDENTIALS,
      });
    }
    const session = await login(code());
    expect(session.token).toBeString();
    expect(session.user.username).toBe('tessa');
  });

  it('should accept a code once: the same code again, and any earlier one, is refused', async () => {
    const { login, code, clock } = await enrolled();
    const now = code();
    await login(now);
    expect(await refusal(login(now))).toMatchObject({
      code: Status.OTP_REQUIRED,
      message: MESSAGES.WRONG_OTP,
    });
    expect(await refusal(login(code(-1)))).toMatchObject({ code: Status.OTP_REQUIRED });
    clock.now += STEP_MS;
    await login(code());
    expect(await refusal(login(now))).toMatchObject({ code: Status.OTP_REQUIRED });
  });

  it('should allow one step of clock drift either way, not two', async () => {
    const { login, code, clock } = await enrolled();
    clock.now += 10 * STEP_MS;
    await login(code(-1)); // the phone is behind
    clock.now += 10 * STEP_MS;
    await login(code(1)); // the phone is ahead
    // Having used the step ahead, the current step's code is spent as well.
    expect(await refusal(login(code(0)))).toMatchObject({ code: Status.OTP_REQUIRED });
    clock.now += 10 * STEP_MS;
    const near = [code(-1), code(0), code(1)];
    for (const far of [code(-2), code(2)]) {
      if (near.includes(far)) continue; // the same six digits by chance (1 in 10^6)
      expect(await refusal(login(far))).toMatchObject({ code: Status.OTP_REQUIRED });
    }
  });

  it('should take each recovery code once, typed any way, in the same field', async () => {
    const { login, recovery, store, user } = await enrolled();
    const [first = '', second = ''] = recovery;
    await login(first);
    expect(await refusal(login(first))).toMatchObject({ code: Status.OTP_REQUIRED });
    await login(second.toUpperCase().replaceAll('-', ' '));
    expect(await store.recoveryCodesLeft(user.id)).toBe(8);
    expect(await refusal(login('aaaa-bbbb-cccc-dddd'))).toMatchObject({
      code: Status.OTP_REQUIRED,
    });
  });

  it('should count wrong codes as failed logins, and not let the password alone reset them', async () => {
    const limits = { ...generousLimits, userLimit: 3, userBaseDelayMs: 60_000 };
    const { login, code } = await enrolled({ limits });
    expect(await refusal(login('000000'))).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(login('111111'))).toMatchObject({ code: Status.OTP_REQUIRED });
    // The right password without a code, twice (memo and all), resets nothing.
    expect(await refusal(login())).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(login())).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(login('222222'))).toMatchObject({ code: Status.OTP_REQUIRED });
    // Three failures: refused before the password is looked at, the right code too.
    expect(await refusal(login(code()))).toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
  });

  it('should reset the failures on a right code', async () => {
    const limits = { ...generousLimits, userLimit: 3, userBaseDelayMs: 60_000 };
    const { login, code, clock } = await enrolled({ limits });
    expect(await refusal(login('000000'))).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(login('111111'))).toMatchObject({ code: Status.OTP_REQUIRED });
    await login(code());
    clock.now += STEP_MS;
    expect(await refusal(login('222222'))).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(login('333333'))).toMatchObject({ code: Status.OTP_REQUIRED });
    await login(code());
  });

  it('should write an audit line per code given, warning on a wrong one, without the code', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const { login, code, recovery } = await enrolled({ log });
    const given = code();
    expect(await refusal(login('999999'))).toMatchObject({ code: Status.OTP_REQUIRED });
    await login(given);
    await login(recovery[0]);
    expect(await refusal(login())).toMatchObject({ code: Status.OTP_REQUIRED });
    const audit = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(
      audit.map(({ action, result, level, username }) => ({ action, result, level, username })),
    ).toEqual([
      { action: 'two-step-login', result: 'OTP_REQUIRED', level: 40, username: 'tessa' },
      { action: 'two-step-login', result: 'OK', level: 30, username: 'tessa' },
      { action: 'recovery-code-login', result: 'OK', level: 30, username: 'tessa' },
    ]);
    for (const line of lines) {
      expect(line).not.toContain(given);
      expect(line).not.toContain(recovery[0] ?? '?');
      expect(line).not.toContain(PASSWORD);
    }
  });

  it('should open a secret sealed under an older key, and seal it under the newest when a code is used', async () => {
    const { store, user, code, limits, key, clock } = await enrolled();
    const old = totpKey('unit-test-secret'.padEnd(40, '!'));
    const rotated = new TwoStep({
      store,
      users: { invalidate: async () => {} } as never,
      limits,
      box: new SecretBox([totpKey('a new sealing key'.padEnd(40, '#')), old]),
      tickets: new LoginTickets(['unit-test-secret'.padEnd(40, '!')]),
      spent: new SpentTickets(null),
      issuer: 'usermgr',
      now: () => clock.now,
    });
    const before = (await store.findById(user.id))?.totpSecret ?? '';
    expect(
      await rotated.check({ ...user, totpSecret: before }, code(), 'tessa', '', deadline()),
    ).toBe('totp');
    const after = (await store.findById(user.id))?.totpSecret ?? '';
    expect(after.slice(0, 11)).not.toBe(before.slice(0, 11));
    expect(new SecretBox([old]).open(after, user.id)).toBeNull();
    expect(
      new SecretBox([totpKey('a new sealing key'.padEnd(40, '#'))]).open(after, user.id),
    ).toEqual({
      secret: key,
      stale: false,
    });
  });
});

describe('unit: the second step of a login on the pages', () => {
  async function ticketFor(s: Awaited<ReturnType<typeof enrolled>>) {
    const err = await s.accounts
      .login({ username: 'tessa', password: PASSWORD, wantTicket: true }, deadline())
      .catch((e: unknown) => e);
    const ticket = (err as { ticket?: { ticket: string; csrfToken: string } }).ticket;
    if (!ticket) throw new Error('no ticket');
    return ticket;
  }

  it('should refuse the ticket of a login that checked the old password while the password changed', async () => {
    const passwords = new HeldPasswords(cheap);
    const s = await enrolled({ passwords });
    const racing = ticketFor(s);
    while (passwords.held.length === 0) await Bun.sleep(1);
    s.clock.now += 10;
    const newHash = await passwords.hash('another horse battery', deadline());
    await s.store.updatePassword(s.user.id, newHash, s.clock.now, true);
    await s.users.invalidate(s.user.username);
    s.clock.now += 10;
    (passwords.held.shift() as () => void)();
    const { ticket, csrfToken } = await racing;
    expect(
      await refusal(s.accounts.completeLogin({ ticket, csrfToken, otp: s.code() }, deadline())),
    ).toMatchObject({ code: Status.UNAUTHENTICATED, message: MESSAGES.TICKET_EXPIRED });
  });

  it('should answer a ticket for the right password, and a session for the ticket and a code', async () => {
    const s = await enrolled();
    const { ticket, csrfToken } = await ticketFor(s);
    const complete = (otp: string, csrf = csrfToken) =>
      s.accounts.completeLogin({ ticket, csrfToken: csrf, otp }, deadline());
    expect(await refusal(complete(s.code(), 'not the token'))).toMatchObject({
      code: Status.PERMISSION_DENIED,
    });
    expect(await refusal(complete(''))).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await refusal(complete('123123'))).toMatchObject({ code: Status.OTP_REQUIRED });
    const session = await complete(s.code());
    expect(session.user.username).toBe('tessa');
    // A ticket starts one session: used again, with the same code or the next valid one,
    // it is refused before the code is looked at.
    const spent = { code: Status.UNAUTHENTICATED, message: MESSAGES.TICKET_EXPIRED };
    expect(await refusal(complete(s.code()))).toMatchObject(spent);
    s.clock.now += STEP_MS;
    expect(await refusal(complete(s.code()))).toMatchObject(spent);
    // That next code was not used up: a new login takes it.
    expect((await s.login(s.code())).user.username).toBe('tessa');
    // A wrong password never gets a ticket.
    expect(
      await refusal(
        s.accounts.login({ username: 'tessa', password: 'wrong', wantTicket: true }, deadline()),
      ),
    ).toMatchObject({ code: Status.UNAUTHENTICATED });
  });

  it('should refuse a ticket after five minutes, after log out everywhere, and a forged one', async () => {
    const s = await enrolled();
    const first = await ticketFor(s);
    s.clock.now += 5 * 60_000;
    expect(
      await refusal(s.accounts.completeLogin({ ...first, otp: s.code() }, deadline())),
    ).toMatchObject({ code: Status.UNAUTHENTICATED, message: MESSAGES.TICKET_EXPIRED });
    const second = await ticketFor(s);
    const { token } = await s.login(s.code());
    s.clock.now += 1;
    await s.accounts.logoutAll({ token }, deadline());
    s.clock.now += STEP_MS;
    expect(
      await refusal(s.accounts.completeLogin({ ...second, otp: s.code() }, deadline())),
    ).toMatchObject({ code: Status.UNAUTHENTICATED });
    expect(
      await refusal(
        s.accounts.completeLogin(
          { ticket: `${second.ticket}x`, csrfToken: '', otp: '' },
          deadline(),
        ),
      ),
    ).toMatchObject({ code: Status.UNAUTHENTICATED });
  });
});

describe('unit: turning two-step login off', () => {
  it('should need the password and a code, each checked, then log in without a code', async () => {
    const s = await enrolled();
    const { token } = await s.login(s.code());
    s.clock.now += STEP_MS;
    const { TotpAccount } = await import('./totp-account.ts');
    const account = new TotpAccount(s.accounts, s.twoStep);
    const caller = { clientIp: '192.0.2.1', requestId: 'r1' };
    const off = (password: string, code: string) =>
      account.disable({ token }, { password, code }, deadline(), caller);
    expect(await refusal(off('wrong horse', s.code()))).toMatchObject({
      code: Status.UNAUTHENTICATED,
      field: 'password',
    });
    expect(await refusal(off(PASSWORD, '000000'))).toMatchObject({
      code: Status.UNAUTHENTICATED,
      field: 'code',
    });
    await off(PASSWORD, s.code());
    expect((await s.store.findById(s.user.id))?.totpSecret).toBe('');
    await s.login();
    expect(await refusal(off(PASSWORD, s.code()))).toMatchObject({ code: Status.NOT_FOUND });
  });

  it('should count wrong codes against the user: more sessions buy no more guesses', async () => {
    const limits = {
      ...generousLimits,
      userLimit: 10,
      userWindowMs: 900_000,
      userBaseDelayMs: 1000,
    };
    const s = await enrolled({ limits });
    // A thief with four sessions and the password (before, a password change gave it
    // fresh sessions without a code).
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      tokens.push((await s.login(s.code())).token);
      s.clock.now += STEP_MS;
    }
    const { TotpAccount } = await import('./totp-account.ts');
    const account = new TotpAccount(s.accounts, s.twoStep);
    const caller = { clientIp: '192.0.2.1', requestId: 'r1' };
    const refusals: (string | undefined)[] = [];
    const judge = async (work: Promise<unknown>) => {
      const err = (await refusal(work)) as { code: Status; field?: string };
      refusals.push(err.code === Status.UNAUTHENTICATED ? err.field : Status[err.code]);
    };
    for (const token of tokens) {
      for (let i = 0; i < 3; i++)
        await judge(
          account.disable({ token }, { password: PASSWORD, code: '000000' }, deadline(), caller),
        );
      const change = { currentPassword: PASSWORD, newPassword: 'another horse battery' };
      await judge(s.accounts.changePassword({ token }, change, deadline(), caller));
      await judge(
        s.accounts.changePassword({ token }, { ...change, code: '000000' }, deadline(), caller),
      );
    }
    // No code at all counts nothing (OTP_REQUIRED); ten wrong codes are checked, and the
    // rest wait, whichever session and whichever change asks.
    expect(refusals.filter((r) => r === 'OTP_REQUIRED')).toHaveLength(4);
    const coded = refusals.filter((r) => r !== 'OTP_REQUIRED');
    expect(coded.slice(0, 10)).toEqual(Array(10).fill('code'));
    expect(coded.slice(10)).toEqual(Array(6).fill('RESOURCE_EXHAUSTED'));
    // The owner's right code, once the delay has passed, resets the count.
    s.clock.now += 15 * 60_000;
    const token = tokens[0] as string;
    await account.disable({ token }, { password: PASSWORD, code: s.code() }, deadline(), caller);
    expect((await s.store.findById(s.user.id))?.totpSecret).toBe('');
  });

  it('should need a code too for a new password or the deletion, while two-step login is on', async () => {
    const s = await enrolled();
    const { token } = await s.login(s.code());
    s.clock.now += STEP_MS;
    const caller = { clientIp: '192.0.2.1', requestId: 'r1' };
    const change = (code?: string) =>
      s.accounts.changePassword(
        { token },
        { currentPassword: PASSWORD, newPassword: 'another horse battery', code },
        deadline(),
        caller,
      );
    const hash = async () => (await s.store.findById(s.user.id))?.passwordHash;
    const before = await hash();
    for (const code of [undefined, '', '  ']) {
      expect(await refusal(change(code))).toMatchObject({
        code: Status.OTP_REQUIRED,
        field: 'code',
        message: MESSAGES.OTP_REQUIRED,
      });
    }
    expect(await refusal(change('000000'))).toMatchObject({
      code: Status.UNAUTHENTICATED,
      field: 'code',
      message: MESSAGES.WRONG_OTP,
    });
    // A wrong password is told first, code or not.
    expect(
      await refusal(
        s.accounts.changePassword(
          { token },
          { currentPassword: 'wrong horse', newPassword: 'another horse battery', code: s.code() },
          deadline(),
          caller,
        ),
      ),
    ).toMatchObject({ code: Status.UNAUTHENTICATED, field: 'current_password' });
    expect(await hash()).toBe(before);
    const changed = await change(s.code());
    expect(await hash()).not.toBe(before);

    // A change refused after the code was looked at would lose it: a weak new password is
    // refused before the code is used, and the recovery code given with it stays (a review).
    const left = async () => {
      const row = await s.store.findById(s.user.id);
      return (await s.twoStep.state(row ?? s.user, SID)).recoveryCodesLeft;
    };
    expect(await left()).toBe(10);
    expect(
      await refusal(
        s.accounts.changePassword(
          { token: changed.token },
          {
            currentPassword: 'another horse battery',
            newPassword: 'tessatessa',
            code: s.recovery[1],
          },
          deadline(),
          caller,
        ),
      ),
    ).toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'new_password' });
    expect(await left()).toBe(10);

    // The deletion: the same, and a recovery code does it too (once).
    const remove = (code?: string) =>
      s.accounts.deleteAccount(
        { token: changed.token },
        { password: 'another horse battery', code },
        deadline(),
        caller,
      );
    expect(await refusal(remove())).toMatchObject({ code: Status.OTP_REQUIRED, field: 'code' });
    expect(await refusal(remove('000000'))).toMatchObject({
      code: Status.UNAUTHENTICATED,
      field: 'code',
    });
    expect(await s.store.findById(s.user.id)).not.toBeNull();
    await remove(s.recovery[0]);
    expect(await s.store.findById(s.user.id)).toBeNull();
  });

  it('should answer a code it cannot check for want of its key with 503 and the way out, and take a recovery code', async () => {
    const { store, user, code, limits, recovery, clock } = await enrolled();
    const keyless = new TwoStep({
      store,
      users: { invalidate: async () => {} } as never,
      limits,
      box: new SecretBox([totpKey('a key it was never sealed under'.padEnd(40, '#'))]),
      tickets: new LoginTickets(['unit-test-secret'.padEnd(40, '!')]),
      spent: new SpentTickets(null),
      issuer: 'usermgr',
      now: () => clock.now,
    });
    const sealed = { ...user, totpSecret: (await store.findById(user.id))?.totpSecret ?? '' };
    const refused = (await refusal(keyless.check(sealed, code(), 'tessa', '', deadline()))) as {
      code: Status;
      message: string;
      cause: unknown;
    };
    expect([refused.code, refused.message]).toEqual([
      Status.UNAVAILABLE,
      MESSAGES.TOTP_KEY_MISSING,
    ]);
    expect(String(refused.cause)).toContain('opens under no configured key');
    expect(await keyless.check(sealed, recovery[0] ?? '', 'tessa', '', deadline())).toBe(
      'recovery',
    );
  });
});
