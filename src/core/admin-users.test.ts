import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { Deadline } from '../lib/deadline.ts';
import type { UserRow } from '../store/port.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { services as accountServices, cheap, disposeServices } from './accounts-fixture.ts';
import { AdminToken } from './admin-token.ts';
import { type AdminCaller, AdminUsers } from './admin-users.ts';
import { base32Decode } from './base32.ts';
import { decodeCursor, encodeCursor } from './list-cursor.ts';
import { Passwords } from './passwords.ts';
import { totp } from './totp.ts';

/** The session that sets two-step login up, in these tests. */
const SID = 'c2Vzc2lvbi1vbmU';

const TOKEN = 'unit-admin-token-'.padEnd(40, 'z');
afterEach(disposeServices);

/**
 * AdminUsers beside the Accounts of accounts-fixture.ts, over one embedded
 * SQLite store, no cache. The audit logger has NO redaction: what it writes
 * is exactly what the service passed.
 */
async function services(
  options: {
    token?: string;
    onUserDeleted?: (user: UserRow) => Promise<void> | void;
    passwords?: Passwords;
  } = {},
) {
  const s = await accountServices(cheap, { passwords: options.passwords });
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const admin = new AdminUsers({
    token: new AdminToken(options.token ?? TOKEN),
    store: s.store,
    users: s.users,
    passwords: s.passwords,
    ids: s.ids,
    log,
    now: () => s.clock.now,
    onUserDeleted: options.onUserDeleted,
  });
  const audit = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...s, admin, lines, audit };
}

const caller = (token = TOKEN): AdminCaller => ({
  token,
  requestId: 'req-1',
  clientIp: '192.0.2.7',
});
const deadline = () => Deadline.after(10_000);
/**
 * What `promise` rejects with, or null. For calls that run a slow hash:
 * bun:test's expect(promise).rejects (Bun 1.4.5) does not deliver messages
 * from worker threads while it waits, and the hashes answer from one.
 */
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (err: unknown) => err,
  );

const newUser = (username: string, password = 'first password', nickname = '') => ({
  username,
  password,
  nickname,
});

describe('unit: AdminUsers', () => {
  it('should create, read, update and delete, writing one audit line per call', async () => {
    const { admin, store, audit } = await services();
    const created = await admin.create(
      caller(),
      newUser('Ann_1', 'first password', 'Ann 🌸'),
      deadline(),
    );
    expect(created).toMatchObject({ username: 'Ann_1', nickname: 'Ann 🌸', picture: '' });
    expect(await admin.get(caller(), created.id)).toEqual(created);
    const renamed = await admin.update(caller(), created.id, { nickname: 'Annie' }, deadline());
    expect(renamed.nickname).toBe('Annie');
    expect(await admin.delete(caller(), created.id)).toEqual(renamed);
    expect(await store.findById(created.id)).toBeNull();
    expect(audit().map((l) => [l.action, l.result, l.userId])).toEqual([
      ['create', 'OK', created.id],
      ['get', 'OK', created.id],
      ['update', 'OK', created.id],
      ['delete', 'OK', created.id],
    ]);
    expect(audit()[2]).toMatchObject({
      audit: 'admin',
      actor: 'admin-token',
      clientIp: '192.0.2.7',
      requestId: 'req-1',
      username: 'Ann_1',
      fields: ['nickname'],
    });
  });

  it('should refuse a wrong or missing token before anything else, audit it, and change nothing', async () => {
    const { admin, store, passwords, audit } = await services();
    const user = await admin.create(caller(), newUser('bob'), deadline());
    const hashes = passwords.counts.hash;
    for (const token of ['', 'wrong', TOKEN.slice(1)]) {
      const calls = [
        admin.create(caller(token), newUser('x'), deadline()), // invalid too: auth comes first
        admin.get(caller(token), user.id),
        admin.update(
          caller(token),
          user.id,
          { nickname: 'hacked', password: 'new password' },
          deadline(),
        ),
        admin.delete(caller(token), user.id),
        admin.list(caller(token), { limit: 9999, cursor: 'garbage', usernamePrefix: '' }),
      ];
      for (const call of calls) {
        await expect(call).rejects.toMatchObject({ code: Status.UNAUTHENTICATED });
      }
    }
    expect(await store.findById(user.id)).toEqual(user);
    expect(passwords.counts.hash).toBe(hashes);
    const refused = () => audit().filter((l) => l.result === 'UNAUTHENTICATED');
    expect(refused()).toHaveLength(15);
    expect(refused().every((l) => l.level === 40)).toBe(true); // warn
  });

  it('should write at most a hundred refusals of a wrong token in ten seconds, from any addresses, then count the rest in the next line', async () => {
    const { admin, audit, clock } = await services();
    const from = (i: number) => ({ ...caller('wrong'), clientIp: `2001:db8:${i.toString(16)}::1` });
    for (let i = 0; i < 130; i++) {
      await expect(admin.get(from(i), '1')).rejects.toMatchObject({
        code: Status.UNAUTHENTICATED,
      });
    }
    const refused = () => audit().filter((l) => l.result === 'UNAUTHENTICATED');
    expect(refused()).toHaveLength(100);
    // Nobody's: a refused token names no actor.
    expect(new Set(refused().map((l) => l.actor))).toEqual(new Set(['unauthenticated']));
    // Whichever address comes next, once the window has passed, carries the count.
    clock.now += 10_000;
    await expect(admin.get(caller('wrong'), '1')).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect(refused()).toHaveLength(101);
    expect(refused().at(-1)).toMatchObject({
      clientIp: '192.0.2.7',
      deniedSinceLastLine: 30,
    });
  });

  it('should answer NOT_FOUND like an absent route, and audit nothing, when no token is configured', async () => {
    const { admin, lines } = await services({ token: '' });
    expect(admin.enabled).toBe(false);
    for (const call of [
      admin.get(caller(''), '1'),
      admin.get(caller(TOKEN), '1'),
      admin.list(caller(TOKEN), { limit: 10, cursor: '', usernamePrefix: '' }),
    ]) {
      await expect(call).rejects.toMatchObject({
        code: Status.NOT_FOUND,
        message: 'no such route',
      });
    }
    expect(() => admin.check(caller(TOKEN), 'create', '', Status.INVALID_ARGUMENT)).toThrow(
      'no such route',
    );
    expect(lines).toEqual([]);
  });

  it('should never write a password, a hash or a token to the log', async () => {
    const { admin, store, lines } = await services();
    const password = 'Sup3r-secret-passphrase';
    const user = await admin.create(caller(), newUser('carol', password), deadline());
    const { passwordHash } = (await store.findById(user.id)) as UserRow;
    await admin.update(caller(), user.id, { password: 'Another-secret-9' }, deadline());
    await admin.create(caller(), newUser('dave', 'short'), deadline()).catch(() => {});
    await admin.get(caller('Wrong-token-value-0'), user.id).catch(() => {});
    const text = lines.join('\n');
    expect(lines.length).toBe(4);
    for (const secret of [
      password,
      'Another-secret-9',
      passwordHash,
      TOKEN,
      'Wrong-token-value-0',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('$argon2id$');
  });

  it('should answer NOT_FOUND for ids no user has, and audit the failure', async () => {
    const { admin, audit } = await services();
    for (const id of ['1', '0', '9223372036854775807', '18446744073709551615', '007', 'abc']) {
      await expect(admin.get(caller(), id)).rejects.toMatchObject({ code: Status.NOT_FOUND });
      await expect(admin.update(caller(), id, { nickname: 'x' }, deadline())).rejects.toMatchObject(
        {
          code: Status.NOT_FOUND,
        },
      );
      await expect(admin.delete(caller(), id)).rejects.toMatchObject({ code: Status.NOT_FOUND });
    }
    expect(audit().every((l) => l.result === 'NOT_FOUND' && l.level === 30)).toBe(true);
  });

  it('should refuse invalid fields naming them, and a taken username', async () => {
    const { admin } = await services();
    await admin.create(caller(), newUser('Taken'), deadline());
    for (const [input, field] of [
      [newUser('x'), 'username'],
      [newUser('okname', 'short'), 'password'],
      [newUser('okname', 'correct horse', '\u202Eevil'), 'nickname'],
    ] as const) {
      await expect(admin.create(caller(), input, deadline())).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        field,
      });
    }
    await expect(admin.create(caller(), newUser('TAKEN'), deadline())).rejects.toMatchObject({
      code: Status.ALREADY_EXISTS,
      field: 'username',
    });
  });

  it('should keep the username immutable, accepting only the current spelling', async () => {
    const { admin, store } = await services();
    const user = await admin.create(caller(), newUser('Fixed'), deadline());
    for (const username of ['other', 'fixed', 'FIXED', '']) {
      await expect(
        admin.update(caller(), user.id, { username, nickname: 'changed' }, deadline()),
      ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'username' });
    }
    expect(await store.findById(user.id)).toEqual(user);
    const same = await admin.update(
      caller(),
      user.id,
      { username: 'Fixed', nickname: 'ok' },
      deadline(),
    );
    expect(same).toMatchObject({ username: 'Fixed', nickname: 'ok' });
    expect(await admin.update(caller(), user.id, {}, deadline())).toEqual(same);
  });

  it('should re-hash a new password and end every session issued before it', async () => {
    const { admin, accounts, clock } = await services();
    const user = await admin.create(caller(), newUser('erin'), deadline());
    const old = await accounts.login({ username: 'erin', password: 'first password' }, deadline());
    clock.now += 10;
    const updated = await admin.update(
      caller(),
      user.id,
      { password: 'second password' },
      deadline(),
    );
    expect(updated.sessionsValidAfterMs).toBe(clock.now);
    await expect(accounts.profile({ token: old.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect(
      await failure(accounts.login({ username: 'erin', password: 'first password' }, deadline())),
    ).toMatchObject({ code: Status.UNAUTHENTICATED });
    const fresh = await accounts.login(
      { username: 'erin', password: 'second password' },
      deadline(),
    );
    expect((await accounts.profile({ token: fresh.token }, deadline())).user.id).toBe(user.id);
  });

  it('should turn two-step login off, and only off, keeping the sessions', async () => {
    const { admin, accounts, twoStep, store, clock, audit } = await services();
    const user = await admin.create(caller(), newUser('tove'), deadline());
    const session = await accounts.login(
      { username: 'tove', password: 'first password' },
      deadline(),
    );
    const key = base32Decode((await twoStep.start(user, SID)).secret) as Uint8Array;
    await twoStep.confirm(user, SID, totp(key, clock.now));
    const login = () =>
      failure(accounts.login({ username: 'tove', password: 'first password' }, deadline()));
    expect(await login()).toMatchObject({ code: Status.OTP_REQUIRED });
    expect(await failure(admin.update(caller(), user.id, { twoStep: true }, deadline()))).toEqual(
      new RpcError(Status.INVALID_ARGUMENT, MESSAGES.TWO_STEP_ONLY_OFF, { field: 'two_step' }),
    );
    expect((await store.findById(user.id))?.totpSecret).not.toBe('');
    clock.now += 10;
    const off = await admin.update(caller(), user.id, { twoStep: false }, deadline());
    expect(off.totpSecret).toBe('');
    expect(off.updatedAtMs).toBe(clock.now);
    expect(off.sessionsValidAfterMs).toBe(user.sessionsValidAfterMs);
    expect(await twoStep.state(off, SID)).toMatchObject({ enabled: false, recoveryCodesLeft: 0 });
    expect(await login()).toBeNull();
    expect((await accounts.profile({ token: session.token }, deadline())).user.id).toBe(user.id);
    // Already off: nothing is written.
    clock.now += 10;
    const again = await admin.update(caller(), user.id, { twoStep: false }, deadline());
    expect(again.updatedAtMs).toBe(off.updatedAtMs);
    expect(audit().map((l) => [l.action, l.result, l.fields])).toContainEqual([
      'update',
      'OK',
      ['twoStep'],
    ]);
  });

  it('should write nothing when the new password cannot be hashed', async () => {
    /** Hashes until told the queue is full. */
    class Saturating extends Passwords {
      full = false;
      override hash(password: string, deadline: Deadline): Promise<string> {
        if (this.full) return Promise.reject(new RpcError(Status.RESOURCE_EXHAUSTED, 'busy'));
        return super.hash(password, deadline);
      }
    }
    const passwords = new Saturating(cheap);
    const { admin, store } = await services({ passwords });
    const user = await admin.create(caller(), newUser('frank'), deadline());
    passwords.full = true;
    await expect(
      admin.update(caller(), user.id, { nickname: 'new', password: 'second password' }, deadline()),
    ).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    expect(await store.findById(user.id)).toEqual(user);
  });

  it('should end the sessions of a deleted user and hand its row to onUserDeleted', async () => {
    const deleted: UserRow[] = [];
    const { admin, accounts, store } = await services({
      onUserDeleted: (u) => void deleted.push(u),
    });
    const user = await admin.create(caller(), newUser('gina'), deadline());
    await store.updatePicture(user.id, 'abc123', Date.now());
    const { token } = await accounts.login(
      { username: 'gina', password: 'first password' },
      deadline(),
    );
    await accounts.profile({ token }, deadline());
    const row = await admin.delete(caller(), user.id);
    expect(deleted).toEqual([row]);
    expect(row.picture).toBe('abc123');
    await expect(accounts.profile({ token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect(
      await failure(accounts.login({ username: 'gina', password: 'first password' }, deadline())),
    ).toMatchObject({ code: Status.UNAUTHENTICATED });
  });

  it('should keep a deletion when onUserDeleted fails, and log the failure', async () => {
    const { admin, store, audit } = await services({
      onUserDeleted: () => Promise.reject(new Error('disk full')),
    });
    const user = await admin.create(caller(), newUser('hank'), deadline());
    await admin.delete(caller(), user.id);
    expect(await store.findById(user.id)).toBeNull();
    expect(audit().some((l) => l.msg === 'clean-up after deleting a user failed')).toBe(true);
    expect(audit().at(-1)).toMatchObject({ action: 'delete', result: 'OK' });
  });

  it('should audit a refusal made by the HTTP server, after checking the token', async () => {
    const { admin, audit } = await services();
    admin.check(caller(), 'update', '42', Status.INVALID_ARGUMENT);
    admin.check(caller(), 'nonsense', 'x y', Status.OK);
    expect(() => admin.check(caller('bad'), 'list', '', Status.INVALID_ARGUMENT)).toThrow(
      expect.objectContaining({ code: Status.UNAUTHENTICATED }),
    );
    expect(audit().map((l) => [l.action, l.userId, l.result, l.refusedBy])).toEqual([
      ['update', '42', 'INVALID_ARGUMENT', 'http'],
      ['unknown', undefined, 'INVALID_ARGUMENT', 'http'],
      ['list', undefined, 'UNAUTHENTICATED', 'http'],
    ]);
  });
});

describe('unit: AdminUsers.list', () => {
  async function seeded(names: string[]) {
    const s = await services();
    const rows: UserRow[] = [];
    for (const [i, username] of names.entries()) {
      const row: UserRow = {
        id: String(1000 + i * 7),
        username,
        nickname: username,
        passwordHash: 'x',
        picture: '',
        sessionsValidAfterMs: 0,
        createdAtMs: 1,
        updatedAtMs: 1,
        totpSecret: '',
        version: 0,
      };
      await s.store.create(row);
      rows.push(row);
    }
    return { ...s, rows };
  }

  it('should page in id order with cursors until a short page, which has none', async () => {
    const names = Array.from({ length: 23 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    const { admin, rows } = await seeded(names);
    const seen: string[] = [];
    let cursor = '';
    let pages = 0;
    do {
      const page = await admin.list(caller(), { limit: 5, cursor, usernamePrefix: '' });
      seen.push(...page.users.map((u) => u.id));
      cursor = page.nextCursor;
      pages++;
      if (cursor !== '') expect(page.users).toHaveLength(5);
    } while (cursor !== '');
    expect(seen).toEqual(rows.map((r) => r.id));
    expect(pages).toBe(5);
  });

  it('should give a full last page a cursor, and the page after it is empty', async () => {
    const { admin } = await seeded(['a01', 'a02', 'a03', 'a04']);
    const first = await admin.list(caller(), { limit: 4, cursor: '', usernamePrefix: '' });
    expect(first.users).toHaveLength(4);
    expect(first.nextCursor).not.toBe('');
    const last = await admin.list(caller(), {
      limit: 4,
      cursor: first.nextCursor,
      usernamePrefix: '',
    });
    expect(last).toEqual({ users: [], nextCursor: '' });
  });

  it('should page by username within a prefix, case-insensitively', async () => {
    const { admin } = await seeded(['pre3', 'PRE1', 'other', 'pre2', 'Pre10', 'pre4']);
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await admin.list(caller(), { limit: 2, cursor, usernamePrefix: 'Pre' });
      seen.push(...page.users.map((u) => u.username));
      cursor = page.nextCursor;
    } while (cursor !== '');
    expect(seen).toEqual(['PRE1', 'Pre10', 'pre2', 'pre3', 'pre4']);
  });

  it('should default the limit to 50 and refuse limits outside 1..500', async () => {
    const names = Array.from({ length: 60 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    const { admin } = await seeded(names);
    expect(
      (await admin.list(caller(), { limit: 0, cursor: '', usernamePrefix: '' })).users,
    ).toHaveLength(50);
    expect(
      (await admin.list(caller(), { limit: 500, cursor: '', usernamePrefix: '' })).users,
    ).toHaveLength(60);
    for (const limit of [501, 4_294_967_295, -1, 1.5]) {
      await expect(
        admin.list(caller(), { limit, cursor: '', usernamePrefix: '' }),
      ).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        field: 'limit',
      });
    }
  });

  it('should refuse forged cursors, cursors of another listing and impossible prefixes', async () => {
    const { admin } = await seeded(['abc', 'abd']);
    const idCursor = encodeCursor({ order: 'id', afterId: '1' });
    const nameCursor = encodeCursor({ order: 'username', prefix: 'ab', afterUsername: 'abc' });
    const cases: [string, string, string][] = [
      ['garbage', '', 'cursor'],
      ['djE6aWQ6LTE', '', 'cursor'], // v1:id:-1
      [nameCursor, '', 'cursor'],
      [idCursor, 'ab', 'cursor'],
      [nameCursor, 'abc', 'cursor'],
      ['', 'a b', 'username_prefix'],
      ['', '名前', 'username_prefix'],
      ['', 'x'.repeat(33), 'username_prefix'],
      ['', '%', 'username_prefix'],
    ];
    for (const [cursor, usernamePrefix, field] of cases) {
      await expect(
        admin.list(caller(), { limit: 10, cursor, usernamePrefix }),
      ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, field });
    }
    // The same prefix in another case shares the cursor.
    const page = await admin.list(caller(), {
      limit: 10,
      cursor: nameCursor,
      usernamePrefix: 'AB',
    });
    expect(page.users.map((u) => u.username)).toEqual(['abd']);
    expect(decodeCursor(idCursor)).not.toBeNull();
  });
});
