import { afterEach, describe, expect, it } from 'bun:test';
import { Deadline } from '../lib/deadline.ts';
import { Status } from '../wire/status.ts';
import {
  cheap,
  disposeServices,
  HeldPasswords,
  olderSessionToken,
  services,
  servicesOver,
} from './accounts-fixture.ts';
import { Passwords } from './passwords.ts';

afterEach(disposeServices);

const deadline = () => Deadline.after(10_000);
const input = (username: string, password = 'correct horse', nickname = '') => ({
  username,
  password,
  nickname,
});

describe('unit: Accounts (SQLite store, no cache)', () => {
  it('should default the nickname to the username and store an argon2id hash', async () => {
    const { accounts, store } = await services();
    const user = await accounts.register(input('Zoe_1'), deadline());
    expect(user.nickname).toBe('Zoe_1');
    expect((await store.findById(user.id))?.passwordHash).toStartWith(
      '$argon2id$v=19$m=1024,t=1,p=1$',
    );
  });

  it('should refuse a username taken in another case, before hashing', async () => {
    const { accounts, passwords } = await services();
    await accounts.register(input('Taken'), deadline());
    const hashes = passwords.counts.hash;
    await expect(accounts.register(input('TAKEN'), deadline())).rejects.toMatchObject({
      code: Status.ALREADY_EXISTS,
      field: 'username',
    });
    expect(passwords.counts.hash).toBe(hashes);
  });

  it('should refuse each invalid field with INVALID_ARGUMENT naming it', async () => {
    const { accounts } = await services();
    for (const [bad, field] of [
      [input('x'), 'username'],
      [input('valid', 'short'), 'password'],
      [input('valid', 'correct horse', '   '), 'nickname'],
    ] as const) {
      await expect(accounts.register(bad, deadline())).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        field,
      });
    }
  });

  it('should log in with the NFC form of the password typed either way', async () => {
    const { accounts } = await services();
    await accounts.register(input('nfc_user', 'caf\u00e9 au lait'), deadline());
    const session = await accounts.login(
      { username: 'nfc_user', password: 'cafe\u0301 au lait' },
      deadline(),
    );
    expect(session.user.username).toBe('nfc_user');
  });

  it('should end sessions issued before logout-all, and accept one issued in the same millisecond after it', async () => {
    const { accounts, clock } = await services();
    await accounts.register(input('same_ms'), deadline());
    const before = await accounts.login(input('same_ms'), deadline());
    await accounts.logoutAll({ token: before.token }, deadline());
    await expect(accounts.profile({ token: before.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    const after = await accounts.login(input('same_ms'), deadline()); // clock has not moved
    expect((await accounts.profile({ token: after.token }, deadline())).user.username).toBe(
      'same_ms',
    );
    clock.now += 5;
    expect((await accounts.profile({ token: after.token }, deadline())).user.username).toBe(
      'same_ms',
    );
  });

  it('should refuse the session of a login that checked the old password while the password changed', async () => {
    const passwords = new HeldPasswords(cheap);
    const { accounts, store, users, clock } = await services(cheap, { passwords });
    const user = await accounts.register(input('racer'), deadline());
    // A login with the old password reads the user and starts its slow hash...
    const began = clock.now;
    const racing = accounts.login(input('racer'), deadline());
    while (passwords.held.length === 0) await Bun.sleep(1);
    // ...the password changes meanwhile (as changePassword and an admin reset write it)...
    clock.now += 10;
    const newHash = await passwords.hash('another horse battery', deadline());
    await store.updatePassword(user.id, newHash, clock.now, true);
    await users.invalidate(user.username);
    // ...and the hash answers "right" after the change, with a later clock.
    clock.now += 10;
    (passwords.held.shift() as () => void)();
    const late = await racing;
    // Issued as of its read of the user, before the change: listed as ended too.
    expect(late.claims.issuedAtMs).toBe(began);
    await expect(accounts.profile({ token: late.token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    // A login with the new password is a session.
    const fresh = accounts.login(input('racer', 'another horse battery'), deadline());
    while (passwords.held.length === 0) await Bun.sleep(1);
    (passwords.held.shift() as () => void)();
    const { token } = await fresh;
    expect((await accounts.profile({ token }, deadline())).user.username).toBe('racer');
  });

  it('should list no session that a login in flight at the deletion lists after it', async () => {
    const { accounts, store, sessions, clock } = await services();
    await accounts.register(input('leaving'), deadline());
    const kept = await accounts.login(input('leaving'), deadline());
    const caller = { requestId: 'r', clientIp: '192.0.2.1' };
    await accounts.deleteAccount(
      { token: kept.token },
      { password: 'correct horse' },
      deadline(),
      caller,
    );
    // The login in flight puts its session on the list as startSession does, after the deletion.
    const { claims } = kept;
    await sessions.record({
      sessionId: 'in-flight-login-000000',
      userId: claims.userId,
      createdAtMs: clock.now + 1,
      expiresAtMs: claims.expiresAtMs,
      persistent: false,
      address: caller.clientIp,
      userAgent: 'Firefox',
    });
    await sessions.flush();
    expect(await store.listSessions(claims.userId, clock.now, 10)).toEqual([]);
  });

  it('should give no session to a password change that another writer overwrote before its read-back', async () => {
    const { accounts, store } = await services();
    await accounts.register(input('overwritten'), deadline());
    const { token } = await accounts.login(input('overwritten'), deadline());
    const write = store.updatePassword.bind(store);
    store.updatePassword = async (id, hash, nowMs, endSessions, ifValidAfterMs) => {
      await write(id, hash, nowMs, endSessions, ifValidAfterMs);
      // An administrator's reset (unguarded) lands before the read-back, which
      // MariaDB makes in a statement of its own: what is read back is theirs.
      return write(id, 'an administrator set this', nowMs + 1, true);
    };
    const change = accounts.changePassword(
      { token },
      { currentPassword: 'correct horse', newPassword: 'a much better passphrase' },
      deadline(),
      { requestId: 'r', clientIp: '192.0.2.1' },
    );
    await expect(change).rejects.toMatchObject({ code: Status.UNAUTHENTICATED });
  });

  it("should renew a token from before the valid-after with the user's, unless it was issued within a login of a change", async () => {
    const { accounts, store, clock } = await services();
    const user = await accounts.register(input('old_token'), deadline());
    /** A version 2 token (no valid-after) of this user, issued at `at`, as an older build made it. */
    const v2 = (at: number) =>
      olderSessionToken('unit-test-secret'.padEnd(40, '!'), 2, {
        userId: user.id,
        username: user.username,
        issuedAtMs: at,
        expiresAtMs: at + 3_600_000,
      });
    // "Log out everywhere" moved sessions_valid_after to now.
    const moved = await store.endSessions(user.id, clock.now);
    const validAfter = moved?.sessionsValidAfterMs ?? 0;
    const late = v2(validAfter + 10 * 60_000);
    const close = v2(validAfter + 1_000); // may be a login that read the user before the move
    clock.now = validAfter + 40 * 60_000; // past a quarter of the hour: due for renewal
    const renewed = await accounts.profile({ token: late }, deadline(), true);
    expect(renewed.renewed?.claims.validAfterMs).toBe(validAfter);
    const kept = await accounts.profile({ token: close }, deadline(), true);
    expect([kept.user.username, kept.renewed]).toEqual(['old_token', null]);
  });

  it('should check the anti-CSRF token only when one is presented', async () => {
    const { accounts } = await services();
    await accounts.register(input('csrf_user'), deadline());
    const { token } = await accounts.login(input('csrf_user'), deadline());
    const { csrfToken } = await accounts.profile({ token }, deadline());
    expect((await accounts.profile({ token, csrfToken }, deadline())).csrfToken).toBe(csrfToken);
    await expect(
      accounts.updateNickname({ token, csrfToken: 'forged' }, 'x', deadline()),
    ).rejects.toMatchObject({
      code: Status.PERMISSION_DENIED,
    });
    await expect(
      accounts.updateNickname({ token, csrfToken: '' }, 'x', deadline()),
    ).rejects.toMatchObject({
      code: Status.PERMISSION_DENIED,
    });
    expect((await accounts.updateNickname({ token, csrfToken }, 'x', deadline())).nickname).toBe(
      'x',
    );
  });

  it('should write concurrent nickname updates of one user as few writes, answering each with its own nickname', async () => {
    const { accounts, store } = await services();
    await accounts.register(input('many_names'), deadline());
    const { token } = await accounts.login(input('many_names'), deadline());
    const written: string[] = [];
    const updateNickname = store.updateNickname.bind(store);
    store.updateNickname = (id, nickname, nowMs, seen) => {
      written.push(nickname);
      return updateNickname(id, nickname, nowMs, seen);
    };
    const names = Array.from({ length: 12 }, (_, i) => `name ${i} ✓`);
    const answers = await Promise.all(
      names.map((name) => accounts.updateNickname({ token }, name, deadline())),
    );
    expect(answers.map((user) => user.nickname)).toEqual(names);
    // The first went alone; the others arrived while it ran and went as one, the last of them.
    expect(written).toEqual([names[0], names.at(-1)] as string[]);
    const stored = await store.findByUsername('many_names');
    expect(stored?.nickname).toBe(names.at(-1) as string);
    expect((await accounts.profile({ token }, deadline())).user.nickname).toBe(
      names.at(-1) as string,
    );
    // Apart again, each is a write of its own.
    await accounts.updateNickname({ token }, 'alone', deadline());
    expect(written.at(-1)).toBe('alone');
    expect(written).toHaveLength(3);
  });

  it('should refuse the token of a deleted user, also after the username is registered again', async () => {
    const { accounts, store } = await services();
    const first = await accounts.register(input('reused'), deadline());
    const { token } = await accounts.login(input('reused'), deadline());
    await store.delete(first.id);
    await accounts.register(input('reused'), deadline());
    await expect(accounts.profile({ token }, deadline())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
  });

  it('should re-hash a password stored with old parameters at login, keeping every session', async () => {
    const old = await services({ ...cheap, memoryKiB: 2048 });
    await old.accounts.register(input('rehash_me'), deadline());
    const elsewhere = await old.accounts.login(input('rehash_me'), deadline());
    const before = (await old.store.findByUsername('rehash_me'))?.passwordHash;
    expect(before).toContain('m=2048');
    // Same store, services now configured with new parameters.
    const passwords = new Passwords(cheap);
    expect(passwords.needsRehash(before as string)).toBe(true);
    const { accounts } = servicesOver(old.store, passwords);
    const first = accounts.login(input('rehash_me'), deadline());
    await first;
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await Bun.sleep(20);
      after = (await old.store.findByUsername('rehash_me'))?.passwordHash;
    }
    expect(after).toContain('m=1024');
    expect((await accounts.login(input('rehash_me'), deadline())).user.username).toBe('rehash_me');
    // The same password, stored anew: the session of the login that re-hashed it and one
    // from before both go on (a mark of the hash in the token had ended them).
    const { token } = await first;
    for (const session of [token, elsewhere.token])
      expect((await accounts.profile({ token: session }, deadline())).user.username).toBe(
        'rehash_me',
      );
  });

  it('should answer RESOURCE_EXHAUSTED at once when the hash queue is full', async () => {
    const { accounts } = await services({
      memoryKiB: 19_456,
      timeCost: 2,
      concurrency: 1,
      maxWaiting: 1,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) => accounts.login(input(`nobody_${i}`), deadline())),
    );
    const codes = results.map((r) =>
      r.status === 'rejected' ? (r.reason as { code: Status }).code : 'ok',
    );
    expect(codes.filter((c) => c === Status.RESOURCE_EXHAUSTED).length).toBe(2);
    expect(codes.filter((c) => c === Status.UNAUTHENTICATED).length).toBe(2);
  });

  // Seen in test/faults: right after a TCP server restart (empty memo) the
  // hash queue was full, and every refused login still counted as an attempt,
  // until correct passwords were throttled for their own account.
  it('should not count a login the full hash queue refused as an attempt on the account', async () => {
    const { accounts, passwords, limits } = await services({
      memoryKiB: 19_456,
      timeCost: 2,
      concurrency: 1,
      maxWaiting: 0,
    });
    await accounts.register(input('queued_out'), deadline());
    const holding = passwords.hash('takes the only slot', deadline());
    const refused = await accounts
      .login(input('queued_out', 'a wrong password'), deadline())
      .catch((err: { code: Status }) => err.code);
    expect(refused).toBe(Status.RESOURCE_EXHAUSTED);
    expect((await limits.peekUser('queued_out')).failures).toBe(0);
    await holding;
    // Not expect(...).rejects: it does not deliver the hash thread's answer while it waits.
    const wrong = await accounts
      .login(input('queued_out', 'a wrong password'), deadline())
      .catch((err: { code: Status }) => err.code);
    expect(wrong).toBe(Status.UNAUTHENTICATED);
    expect((await limits.peekUser('queued_out')).failures).toBe(1);
  });

  it('should keep a shared verification for the logins still waiting when the one that started it hangs up', async () => {
    // Real argon2 cost: the blocker's hash must outlast the queueing of the others.
    const { accounts, passwords } = await services({
      memoryKiB: 19_456,
      timeCost: 2,
      concurrency: 1,
      maxWaiting: 8,
    });
    const queued = async () => {
      const until = performance.now() + 5000;
      while (passwords.queueDepth < 1 && performance.now() < until) await Bun.sleep(1);
      expect(passwords.queueDepth).toBe(1);
    };
    await accounts.register(input('shared_1'), deadline());
    await accounts.register(input('blocker_1'), deadline());
    // The only thread is busy, so the shared verification waits in the queue.
    const busy = accounts.login(input('blocker_1'), deadline());
    const starter = deadline();
    const first = accounts
      .login(input('shared_1'), starter)
      .catch((err: { code: Status }) => err.code);
    const second = accounts.login(input('shared_1'), deadline());
    await queued();
    await Bun.sleep(5); // both logins have joined the one queued verification
    starter.cancel();
    expect((await second).user.username).toBe('shared_1');
    await first; // settles with the shared verdict; the server drops the answer of a caller gone
    await busy;
    expect(passwords.counts.cancelled).toBe(0);

    // Every caller gone: the verification is dropped unstarted.
    const blocked = accounts.login(input('blocker_1', 'wrong horse'), deadline()).catch(() => {});
    const alone = deadline();
    const dropped = accounts
      .login(input('shared_1', 'other horse'), alone)
      .catch((err: { code: Status }) => err.code);
    await queued();
    alone.cancel();
    expect(await dropped).toBe(Status.CANCELLED);
    await blocked;
    expect(passwords.counts.cancelled).toBe(1);
  });
});
