/**
 * The UserStore contract: what every adapter must do, as described in
 * src/store/port.ts. sqlite.test.ts and mysql.test.ts run it on a fresh
 * database each.
 *
 * All tests share one store, so each works on its own random usernames, ids,
 * pictures and session ids and asserts only about those (the list tests look
 * at their own rows within the pages, and the purge test clears expired rows
 * before counting).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { randomBytes } from 'node:crypto';
import type {
  CacheRepair,
  ListedSession,
  PictureCheck,
  RevokedRange,
  UserRow,
  UserStore,
} from '../../src/store/port.ts';

export interface ContractSubject {
  /** A store on a freshly created and migrated database. */
  store: UserStore;
  /** Runs the migrations on that database again; resolves to the versions applied. */
  migrateAgain(): Promise<number[]>;
  /** Closes the store and removes the database. */
  dispose(): Promise<void>;
}

const MAX_ID = (1n << 63n) - 1n;
const NOW = Date.now();

/** A random id in 1..2^63-1, as the port carries it. */
function randomId(): string {
  const value = randomBytes(8).readBigUInt64BE() & MAX_ID;
  return (value === 0n ? 1n : value).toString();
}

/** A fresh username: `prefix` plus random letters, at most 32 characters. */
function uniqueName(prefix = 'u'): string {
  return `${prefix}${randomBytes(8).toString('hex')}`.slice(0, 32);
}

/** Every revoked session, in pages as large as the stores give. */
const EVERY_ID: RevokedRange = { from: '', before: null, limit: 10_000 };

function sessionId(): string {
  return randomBytes(16).toString('base64url'); // 22 characters, like real ones
}

export function newUser(overrides: Partial<UserRow> = {}): UserRow {
  return {
    id: randomId(),
    username: uniqueName(),
    nickname: 'Nick',
    passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$${randomBytes(8).toString('base64')}`,
    picture: '',
    sessionsValidAfterMs: 0,
    createdAtMs: NOW,
    updatedAtMs: NOW,
    totpSecret: '',
    version: 0,
    ...overrides,
  };
}

const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** Registers the contract's describe blocks; `open` is called once, before the first test. */
export function describeStoreContract(engine: string, open: () => Promise<ContractSubject>): void {
  let subject: ContractSubject;
  let store: UserStore;

  async function created(overrides: Partial<UserRow> = {}): Promise<UserRow> {
    const user = newUser(overrides);
    expect(await store.create(user)).toBe('created');
    return user;
  }

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
  });

  afterAll(async () => {
    await subject?.dispose();
  });

  describe(`${engine} store: create and find`, () => {
    it('should find a user by username case-insensitively, keeping the stored spelling', async () => {
      const user = await created({ username: uniqueName('MiXeD_') });
      for (const spelling of [
        user.username,
        user.username.toUpperCase(),
        user.username.toLowerCase(),
      ]) {
        expect(await store.findByUsername(spelling)).toEqual(user);
      }
    });

    it('should answer many lookups made at once, each with its own user or null', async () => {
      const users = [];
      for (let i = 0; i < 70; i++) users.push(await created({ username: uniqueName(`Many${i}_`) }));
      const asked = [
        ...users.map((u, i) => (i % 2 === 0 ? u.username.toUpperCase() : u.username)),
        ...users.slice(0, 10).map((u) => u.username.toLowerCase()),
        uniqueName('nobody-'),
        '名前',
      ];
      const found = await Promise.all(asked.map((name) => store.findByUsername(name)));
      expect(found).toEqual([...users, ...users.slice(0, 10), null, null]);
    });

    it('should find a user by id', async () => {
      const user = await created();
      expect(await store.findById(user.id)).toEqual(user);
      expect(await store.findById(randomId())).toBeNull();
    });

    it('should answer username_taken for a name differing only in case', async () => {
      const user = await created({ username: uniqueName('Case.') });
      const clash = newUser({ username: user.username.toUpperCase() });
      expect(await store.create(clash)).toBe('username_taken');
      expect(await store.findById(clash.id)).toBeNull();
      expect((await store.findByUsername(clash.username))?.username).toBe(user.username);
    });

    it('should create exactly one of concurrent creates of one username', async () => {
      const username = uniqueName('race-');
      const users = Array.from({ length: 20 }, (_, i) =>
        newUser({ username: i % 2 === 0 ? username : username.toUpperCase() }),
      );
      const results = await Promise.all(users.map((u) => store.create(u)));
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      expect(results.filter((r) => r === 'username_taken')).toHaveLength(19);
      const winner = users[results.indexOf('created')];
      expect((await store.findByUsername(username))?.id).toBe(winner?.id as string);
    });

    it('should answer id_taken for a duplicate id (two servers with one WORKER_ID), keeping the first', async () => {
      const user = await created();
      const clash = newUser({ id: user.id });
      expect(await store.create(clash)).toBe('id_taken');
      expect(await store.findById(user.id)).toEqual(user);
      expect(await store.findByUsername(clash.username)).toBeNull();
    });

    it('should round-trip Unicode nicknames exactly', async () => {
      const emoji = Array.from({ length: 64 }, (_, i) => String.fromCodePoint(0x1f600 + i)).join(
        '',
      );
      expect([...emoji]).toHaveLength(64);
      // 64 characters of four code points: the column's whole width (256).
      const coders = '👩🏽‍💻'.repeat(64);
      for (const nickname of ['名前 🎉 Ünïcödé', emoji, coders, 'e\u0301 stays decomposed', '']) {
        const user = await created({ nickname });
        expect((await store.findById(user.id))?.nickname).toBe(nickname);
      }
    });

    it('should refuse values longer than their columns', async () => {
      await expect(store.create(newUser({ nickname: '😀'.repeat(257) }))).rejects.toThrow();
      await expect(store.create(newUser({ username: 'x'.repeat(33) }))).rejects.toThrow();
    });

    it('should keep ids near 2^63 exact', async () => {
      const ids = ['9223372036854775807', '9007199254740993', '9007199254740992'];
      const users = [];
      for (const id of ids) users.push(await created({ id }));
      for (const user of users) {
        expect(await store.findById(user.id)).toEqual(user);
        expect((await store.findByUsername(user.username))?.id).toBe(user.id);
      }
      const [last] = await store.list({
        limit: 1,
        usernamePrefix: '',
        afterId: '9223372036854775806',
        afterUsername: null,
      });
      expect(last?.id).toBe('9223372036854775807');
    });

    it('should answer null for usernames no row can hold, without throwing', async () => {
      const user = await created();
      for (const name of ['名前', 'é', 'x'.repeat(1000), '', `${user.username} `, ' ']) {
        expect(await store.findByUsername(name)).toBeNull();
      }
    });

    it('should answer null for ids no row can hold, without throwing', async () => {
      for (const id of ['', 'abc', '-1', '1e3', '01', '9223372036854775808', '9'.repeat(40)]) {
        expect(await store.findById(id)).toBeNull();
        expect(await store.updateNickname(id, 'x', NOW)).toBeNull();
        expect(await store.delete(id)).toBeNull();
      }
    });
  });

  describe(`${engine} store: updates`, () => {
    it('should update the nickname and return the fresh row', async () => {
      const user = await created();
      const updated = await store.updateNickname(user.id, 'Новое 🎈', NOW + 5);
      expect(updated).toEqual({ ...user, nickname: 'Новое 🎈', updatedAtMs: NOW + 5, version: 1 });
      expect(await store.findById(user.id)).toEqual(updated);
      expect(await store.updateNickname(randomId(), 'x', NOW)).toBeNull();
    });

    it('should update the nickname of the row seen, or of the current row when it moved on', async () => {
      const user = await created();
      const first = await store.updateNickname(user.id, 'one', NOW + 1, user);
      expect(first).toEqual({ ...user, nickname: 'one', updatedAtMs: NOW + 1, version: 1 });
      expect(await store.findById(user.id)).toEqual(first);
      // Another write since `user` was seen: the stale row must not come back.
      await store.endSessions(user.id, NOW + 50);
      const second = await store.updateNickname(user.id, 'two', NOW + 2, user);
      expect(second).toEqual({
        ...user,
        nickname: 'two',
        updatedAtMs: NOW + 2,
        sessionsValidAfterMs: NOW + 50,
        version: 3,
      });
      expect(await store.findById(user.id)).toEqual(second);
      expect(await store.updateNickname(randomId(), 'x', NOW, { ...user, id: randomId() })).toBe(
        null,
      );
    });

    it('should update many users at once, each exactly, also when one of them moved on', async () => {
      const users = await Promise.all(Array.from({ length: 40 }, () => created()));
      const moved = users[7] as UserRow;
      await store.endSessions(moved.id, NOW + 70); // written since it was seen
      const results = await Promise.all(
        users.map((user, k) => store.updateNickname(user.id, `many ${k}`, NOW + k, user)),
      );
      for (const [k, user] of users.entries()) {
        const expected =
          user === moved
            ? {
                ...user,
                nickname: `many ${k}`,
                updatedAtMs: NOW + k,
                sessionsValidAfterMs: NOW + 70,
                version: 2,
              }
            : { ...user, nickname: `many ${k}`, updatedAtMs: NOW + k, version: 1 };
        // Each written once, also those sharing a statement with the moved row (MySQL).
        expect(results[k]).toEqual(expected);
        expect(await store.findById(user.id)).toEqual(results[k] as UserRow);
      }
    });

    it('should end concurrent nickname updates of one row at one row, each one applied', async () => {
      const user = await created();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.updateNickname(user.id, `n${i}`, NOW + i, user)),
      );
      const stored = await store.findById(user.id);
      expect(stored?.version).toBe(6); // each one applied once
      // Each answer is the row as its write or a later one left it: the newest is the stored row.
      const versions = results.map((r) => r?.version ?? 0);
      expect(Math.min(...versions)).toBeGreaterThanOrEqual(1);
      expect(results.find((r) => r?.version === 6)).toEqual(stored);
    });

    it('should update the picture and return the one it replaced', async () => {
      const user = await created();
      const first = await store.updatePicture(user.id, 'pic-a', NOW + 1);
      expect(first).toEqual({
        user: { ...user, picture: 'pic-a', updatedAtMs: NOW + 1, version: 1 },
        previous: '',
      });
      const second = await store.updatePicture(user.id, 'pic-b', NOW + 2);
      expect(second?.previous).toBe('pic-a');
      expect(second?.user.picture).toBe('pic-b');
      expect(await store.updatePicture(randomId(), 'pic-c', NOW)).toBeNull();
    });

    it('should report each replaced picture once when uploads race', async () => {
      const user = await created({ picture: 'race-0' });
      const pictures = Array.from({ length: 3 }, (_, i) => `race-${i + 1}`);
      const results = await Promise.all(pictures.map((p) => store.updatePicture(user.id, p, NOW)));
      const previous = results.map((r) => r?.previous).sort();
      const final = (await store.findById(user.id))?.picture;
      // Every picture but the final one was replaced exactly once.
      expect(previous).toEqual(['race-0', ...pictures].filter((p) => p !== final).sort());
    });

    it('should update the password, ending sessions only when asked', async () => {
      const user = await created({ sessionsValidAfterMs: NOW - 1000 });
      const kept = await store.updatePassword(user.id, 'hash-2', NOW + 10, false);
      expect(kept).toEqual({ ...user, passwordHash: 'hash-2', updatedAtMs: NOW + 10, version: 1 });
      const ended = await store.updatePassword(user.id, 'hash-3', NOW + 20, true);
      expect(ended).toEqual({
        ...user,
        passwordHash: 'hash-3',
        updatedAtMs: NOW + 20,
        sessionsValidAfterMs: NOW + 20,
        version: 2,
      });
      expect(await store.updatePassword(randomId(), 'h', NOW, true)).toBeNull();
    });

    it('should update the password only over the sessions_valid_after it is given', async () => {
      const user = await created({ sessionsValidAfterMs: NOW - 1000 });
      const first = await store.updatePassword(user.id, 'hash-a', NOW + 10, true, NOW - 1000);
      expect(first).toMatchObject({ passwordHash: 'hash-a', sessionsValidAfterMs: NOW + 10 });
      // A second change checked against the row before the first: nothing lands.
      expect(await store.updatePassword(user.id, 'hash-b', NOW + 20, true, NOW - 1000)).toBeNull();
      expect(await store.findById(user.id)).toEqual(first);
      const second = await store.updatePassword(user.id, 'hash-b', NOW + 20, true, NOW + 10);
      expect(second).toMatchObject({ passwordHash: 'hash-b', sessionsValidAfterMs: NOW + 20 });
    });

    it('should raise sessions_valid_after, never lower it, and always move it', async () => {
      const user = await created();
      expect((await store.endSessions(user.id, NOW + 100))?.sessionsValidAfterMs).toBe(NOW + 100);
      // A clock behind the last writer's: one past, so that sessions earned at NOW + 100 end.
      expect((await store.endSessions(user.id, NOW + 50))?.sessionsValidAfterMs).toBe(NOW + 101);
      const behind = await store.updatePassword(user.id, 'hash-9', NOW + 60, true);
      expect(behind?.sessionsValidAfterMs).toBe(NOW + 102);
      const raised = await store.endSessions(user.id, NOW + 200);
      expect(raised).toEqual({
        ...user,
        passwordHash: 'hash-9',
        updatedAtMs: NOW + 60,
        sessionsValidAfterMs: NOW + 200,
        version: 4,
      });
      expect(await store.endSessions(randomId(), NOW)).toBeNull();
    });

    it('should replace the password hash only while it is the expected one', async () => {
      const user = await created();
      expect(await store.replacePasswordHash(user.id, 'not-the-hash', 'rehashed')).toBe(false);
      expect((await store.findById(user.id))?.passwordHash).toBe(user.passwordHash);
      expect(await store.replacePasswordHash(user.id, user.passwordHash, 'rehashed')).toBe(true);
      expect(await store.findById(user.id)).toEqual({
        ...user,
        passwordHash: 'rehashed',
        version: 1,
      });
      expect(await store.replacePasswordHash(user.id, user.passwordHash, 'again')).toBe(false);
      expect(await store.replacePasswordHash(user.id, 'répété', 'again')).toBe(false);
      expect(await store.replacePasswordHash(randomId(), 'rehashed', 'x')).toBe(false);
    });

    it('should delete a user, return the old row, and free the username', async () => {
      const user = await created({ picture: 'gone', nickname: 'bye 👋' });
      expect(await store.delete(user.id)).toEqual(user);
      expect(await store.findById(user.id)).toBeNull();
      expect(await store.findByUsername(user.username)).toBeNull();
      expect(await store.delete(user.id)).toBeNull();
      expect(await store.create(newUser({ username: user.username }))).toBe('created');
    });
  });

  describe(`${engine} store: list`, () => {
    it('should page by id, returning each row exactly once, in id order', async () => {
      const mine = new Set<string>();
      for (let batch = 0; batch < 6; batch++) {
        const users = Array.from({ length: 50 }, () => newUser());
        await Promise.all(users.map((u) => store.create(u)));
        for (const u of users) mine.add(u.id);
      }
      const seen: string[] = [];
      let afterId: string | null = null;
      for (let pages = 0; pages < 1000; pages++) {
        const page: UserRow[] = await store.list({
          limit: 37,
          usernamePrefix: '',
          afterId,
          afterUsername: null,
        });
        seen.push(...page.map((u) => u.id));
        if (page.length < 37) break;
        afterId = page[page.length - 1]?.id ?? null;
      }
      expect([...seen].sort(byId)).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.filter((id) => mine.has(id))).toHaveLength(mine.size);
    });

    it('should accept the limits 1 and 500', async () => {
      await created();
      const base = { usernamePrefix: '', afterId: null, afterUsername: null };
      expect(await store.list({ ...base, limit: 1 })).toHaveLength(1);
      const all = await store.list({ ...base, limit: 500 });
      expect(all.length).toBeGreaterThan(1);
      expect(all.length).toBeLessThanOrEqual(500);
      await expect(store.list({ ...base, limit: 501 })).rejects.toThrow(RangeError);
    });

    it('should match a prefix literally: _ % and ! are not wildcards', async () => {
      const tag = uniqueName('lp').slice(0, 12);
      const names = ['_x1', '_x2', 'ax3', '%y', 'zzy', '!q', 'a!q'].map((s) => tag + s);
      for (const username of names) await created({ username });
      const find = async (prefix: string) =>
        (
          await store.list({
            limit: 50,
            usernamePrefix: prefix,
            afterId: null,
            afterUsername: null,
          })
        )
          .map((u) => u.username)
          .sort();
      expect(await find(`${tag}_`)).toEqual([`${tag}_x1`, `${tag}_x2`]);
      expect(await find(`${tag}%`)).toEqual([`${tag}%y`]);
      expect(await find(`${tag}!`)).toEqual([`${tag}!q`]);
      expect(await find(tag.toUpperCase())).toEqual([...names].sort());
    });

    it('should order by username case-insensitively and page with afterUsername', async () => {
      const tag = uniqueName('ord').slice(0, 12);
      const names = ['b', 'A', 'c', 'D', 'e1', 'E2', 'f'].map((s) => tag + s);
      for (const username of names) await created({ username });
      const options = { usernamePrefix: tag.toUpperCase(), afterId: null, afterUsername: null };
      const all = (await store.list({ ...options, limit: 50 })).map((u) => u.username);
      expect(all).toEqual(['A', 'b', 'c', 'D', 'e1', 'E2', 'f'].map((s) => tag + s));
      const paged: string[] = [];
      let afterUsername: string | null = null;
      for (;;) {
        const page: UserRow[] = await store.list({ ...options, limit: 2, afterUsername });
        paged.push(...page.map((u) => u.username));
        if (page.length < 2) break;
        // The cursor matches case-insensitively too.
        afterUsername = page[page.length - 1]?.username.toUpperCase() ?? null;
      }
      expect(paged).toEqual(all);
    });

    it('should list nothing for a prefix or cursor no username can have', async () => {
      const base = { limit: 10, afterId: null, afterUsername: null };
      expect(await store.list({ ...base, usernamePrefix: '名' })).toEqual([]);
      expect(await store.list({ ...base, usernamePrefix: 'x'.repeat(40) })).toEqual([]);
      expect(await store.list({ ...base, usernamePrefix: 'a', afterUsername: 'é' })).toEqual([]);
      expect(await store.list({ ...base, usernamePrefix: '', afterId: 'nope' })).toEqual([]);
    });
  });

  describe(`${engine} store: pictures`, () => {
    it('should tell whether some user has a picture', async () => {
      const [a, b] = [uniqueName('pic'), uniqueName('pic')] as [string, string];
      expect(await store.isPictureUsed(a)).toBe(false);
      const user = await created({ picture: a });
      expect(await store.isPictureUsed(a)).toBe(true);
      await store.updatePicture(user.id, b, NOW);
      expect(await store.isPictureUsed(a)).toBe(false);
      expect(await store.isPictureUsed(b)).toBe(true);
      await store.delete(user.id);
      expect(await store.isPictureUsed(b)).toBe(false);
      expect(await store.isPictureUsed('图片')).toBe(false);
      expect(await store.isPictureUsed('p'.repeat(1000))).toBe(false);
    });
  });

  describe(`${engine} store: two-step login`, () => {
    const sealed = (c: string) => `1.0000000${c}.${c.repeat(64)}`;
    const hashes = ['a', 'b', 'c'].map((c) => c.repeat(43));

    it('should keep a pending secret, then turn it on only with that secret, once', async () => {
      const user = await created();
      expect(await store.totpPending(user.id)).toBe('');
      expect(await store.setTotpPending(user.id, sealed('a'))).toBe(true);
      expect(await store.setTotpPending(user.id, sealed('b'))).toBe(true); // started again
      expect(await store.totpPending(user.id)).toBe(sealed('b'));
      expect(
        await store.enableTotp(user.id, sealed('a'), sealed('a'), 5, hashes, NOW + 1),
      ).toBeNull();
      const on = await store.enableTotp(user.id, sealed('b'), sealed('d'), 5, hashes, NOW + 1);
      // A pending secret is no column of the row: only turning it on moves the version.
      // The secret kept is the one given (sealed for use), not the pending text.
      expect(on).toEqual({ ...user, totpSecret: sealed('d'), updatedAtMs: NOW + 1, version: 1 });
      expect(await store.findByUsername(user.username)).toEqual(on);
      expect(await store.totpPending(user.id)).toBe('');
      expect(await store.recoveryCodesLeft(user.id)).toBe(3);
      // On: no new pending secret, and no second enabling.
      expect(await store.setTotpPending(user.id, sealed('c'))).toBe(false);
      expect(
        await store.enableTotp(user.id, sealed('b'), sealed('b'), 6, hashes, NOW + 2),
      ).toBeNull();
    });

    it('should accept each step once, later ones only, and for the current secret only', async () => {
      const user = await created();
      await store.setTotpPending(user.id, sealed('a'));
      await store.enableTotp(user.id, sealed('a'), sealed('a'), 100, hashes, NOW);
      expect(await store.useTotpStep(user.id, sealed('a'), 100, sealed('a'))).toBe(false);
      expect(await store.useTotpStep(user.id, sealed('a'), 99, sealed('a'))).toBe(false);
      expect(await store.useTotpStep(user.id, sealed('b'), 101, sealed('b'))).toBe(false);
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => store.useTotpStep(user.id, sealed('a'), 101, sealed('a'))),
      );
      expect(racing.filter(Boolean)).toHaveLength(1);
      // Moving the secret to a new key in the same write.
      expect(await store.useTotpStep(user.id, sealed('a'), 102, sealed('c'))).toBe(true);
      expect((await store.findById(user.id))?.totpSecret).toBe(sealed('c'));
      expect((await store.findById(user.id))?.version).toBe(3); // on, 101, 102
      expect(await store.useTotpStep(user.id, sealed('c'), 102, sealed('c'))).toBe(false);
    });

    it('should use each recovery code once, also when uses race', async () => {
      const user = await created();
      await store.setTotpPending(user.id, sealed('a'));
      await store.enableTotp(user.id, sealed('a'), sealed('a'), 1, hashes, NOW);
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => store.useRecoveryCode(user.id, hashes[1] as string)),
      );
      expect(racing.filter(Boolean)).toHaveLength(1);
      expect(await store.recoveryCodesLeft(user.id)).toBe(2);
      expect(await store.useRecoveryCode(user.id, 'd'.repeat(43))).toBe(false);
      expect(await store.useRecoveryCode(user.id, 'a'.repeat(42))).toBe(false);
      expect(await store.useRecoveryCode(user.id, hashes[0] as string)).toBe(true);
      expect(await store.useRecoveryCode(user.id, hashes[2] as string)).toBe(true);
      expect(await store.recoveryCodesLeft(user.id)).toBe(0);
    });

    it('should turn it off with everything it kept, and delete it with the user', async () => {
      const user = await created();
      await store.setTotpPending(user.id, sealed('a'));
      await store.enableTotp(user.id, sealed('a'), sealed('a'), 7, hashes, NOW);
      const off = await store.disableTotp(user.id, NOW + 3);
      expect(off).toEqual({ ...user, updatedAtMs: NOW + 3, version: 2 });
      expect(await store.recoveryCodesLeft(user.id)).toBe(0);
      expect(await store.useRecoveryCode(user.id, hashes[0] as string)).toBe(false);
      expect(await store.useTotpStep(user.id, sealed('a'), 8, sealed('a'))).toBe(false);
      // On again after off: the step count starts from the confirming code.
      await store.setTotpPending(user.id, sealed('b'));
      await store.enableTotp(user.id, sealed('b'), sealed('b'), 3, hashes, NOW);
      expect(await store.useTotpStep(user.id, sealed('b'), 4, sealed('b'))).toBe(true);
      expect((await store.delete(user.id))?.totpSecret).toBe(sealed('b'));
      expect(await store.totpPending(user.id)).toBe('');
      expect(await store.recoveryCodesLeft(user.id)).toBe(0);
      expect(await store.disableTotp(user.id, NOW)).toBeNull();
    });

    it('should answer nothing for ids and values no row can hold, without throwing', async () => {
      const user = await created();
      for (const id of ['', 'x', '-1', '99999999999999999999']) {
        expect(await store.totpPending(id)).toBe('');
        expect(await store.setTotpPending(id, sealed('a'))).toBe(false);
        expect(await store.useRecoveryCode(id, hashes[0] as string)).toBe(false);
        expect(await store.disableTotp(id, NOW)).toBeNull();
      }
      expect(await store.setTotpPending(user.id, 'é'.repeat(10))).toBe(false);
      expect(await store.setTotpPending(user.id, 'x'.repeat(101))).toBe(false);
      expect(await store.enableTotp(user.id, sealed('a'), sealed('a'), 1, ['a,b'], NOW)).toBeNull();
      expect(
        await store.enableTotp(user.id, sealed('a'), 'x'.repeat(101), 1, hashes, NOW),
      ).toBeNull();
      expect(await store.useRecoveryCode(user.id, `,${'a'.repeat(41)}`)).toBe(false);
    });
  });

  describe(`${engine} store: revoked sessions`, () => {
    it('should revoke a session idempotently until it expires', async () => {
      const id = sessionId();
      const userId = randomId();
      expect(await store.isSessionRevoked(id, NOW)).toBe(false);
      await store.revokeSession(id, userId, NOW + 60_000);
      await store.revokeSession(id, userId, NOW + 60_000);
      expect(await store.isSessionRevoked(id, NOW)).toBe(true);
      expect(await store.isSessionRevoked(id, NOW + 60_000)).toBe(false);
      expect(await store.isSessionRevoked(sessionId(), NOW)).toBe(false);
      expect(await store.isSessionRevoked('セッション', NOW)).toBe(false);
      expect(await store.isSessionRevoked('s'.repeat(1000), NOW)).toBe(false);
    });

    it('should list only the revocations that have not expired', async () => {
      const live = [sessionId(), sessionId()];
      const expired = [sessionId(), sessionId()];
      for (const id of live) await store.revokeSession(id, randomId(), NOW + 5000);
      for (const id of expired) await store.revokeSession(id, randomId(), NOW - 5000);
      const listed = await store.listRevokedSessions(NOW, EVERY_ID);
      for (const id of live)
        expect(listed).toContainEqual({ sessionId: id, expiresAtMs: NOW + 5000 });
      const ids = new Set(listed.map((r) => r.sessionId));
      for (const id of expired) expect(ids.has(id)).toBe(false);
      expect(listed.every((r) => r.expiresAtMs > NOW)).toBe(true);
    });

    it('should list a range of revocations a page at a time, in session id order', async () => {
      // Ids of a prefix no other test can make (10 random characters), ordered by their tails.
      const base = sessionId().slice(0, 10);
      const [a, b, c, d, gone] = ['-', '0', 'A', '_', 'a'].map((t) => `${base}${t.repeat(12)}`) as [
        string,
        string,
        string,
        string,
        string,
      ];
      for (const id of [d, b, a, c]) await store.revokeSession(id, randomId(), NOW + 5000);
      await store.revokeSession(gone, randomId(), NOW - 1);
      const ids = async (from: string, before: string | null, limit: number) =>
        (await store.listRevokedSessions(NOW, { from, before, limit })).map((r) => r.sessionId);
      expect(await ids(base, `${base}~`, 10)).toEqual([a, b, c, d]);
      // From included, before excluded.
      expect(await ids(b, d, 10)).toEqual([b, c]);
      expect(await ids(base, `${base}~`, 2)).toEqual([a, b]);
      expect(await ids(b, null, 2)).toEqual([b, c]);
      expect(await ids(`${base}~`, `${base}~~`, 10)).toEqual([]);
      for (const limit of [0, 10_001, 1.5])
        await expect(ids(base, null, limit)).rejects.toBeInstanceOf(RangeError);
      const bounds: [string, string | null][] = [
        ['a b', null],
        ['', ''],
        ['セ', null],
        ['', 'a\u0000'],
      ];
      for (const [from, before] of bounds)
        await expect(ids(from, before, 10)).rejects.toBeInstanceOf(RangeError);
    });

    it('should purge expired revocations and count them', async () => {
      await store.purgeExpiredRevocations(NOW);
      const live = sessionId();
      await store.revokeSession(live, randomId(), NOW + 1);
      for (let i = 0; i < 3; i++) await store.revokeSession(sessionId(), randomId(), NOW - i);
      expect(await store.purgeExpiredRevocations(NOW)).toBe(3);
      expect(await store.purgeExpiredRevocations(NOW)).toBe(0);
      expect(await store.isSessionRevoked(live, NOW)).toBe(true);
    });
  });

  describe(`${engine} store: cache repairs`, () => {
    it('should keep repairs until removed as listed, the later expiry of two, and drop expired ones', async () => {
      const mine = (all: CacheRepair[]) =>
        all.filter((r) => r.item === session || r.item === username || r.item === gone);
      const session = sessionId();
      const username = uniqueName('repair-').toLowerCase();
      const gone = uniqueName('gone-').toLowerCase();
      await store.addCacheRepair({ kind: 'session', item: session, expiresAtMs: NOW + 60_000 });
      await store.addCacheRepair({ kind: 'user', item: username, expiresAtMs: NOW + 1_000 });
      await store.addCacheRepair({ kind: 'user', item: username, expiresAtMs: NOW + 5_000 });
      await store.addCacheRepair({ kind: 'user', item: username, expiresAtMs: NOW + 2_000 });
      await store.addCacheRepair({ kind: 'user', item: gone, expiresAtMs: NOW - 1 });
      const listed = mine(await store.listCacheRepairs(NOW, 1000));
      expect(listed.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
        { kind: 'session', item: session, expiresAtMs: NOW + 60_000 },
        { kind: 'user', item: username, expiresAtMs: NOW + 5_000 },
      ]);
      // A newer failure (a later expiry) since the listing survives its removal.
      await store.addCacheRepair({ kind: 'user', item: username, expiresAtMs: NOW + 9_000 });
      await store.removeCacheRepairs(listed);
      expect(mine(await store.listCacheRepairs(NOW, 1000))).toEqual([
        { kind: 'user', item: username, expiresAtMs: NOW + 9_000 },
      ]);
      await store.removeCacheRepairs([{ kind: 'user', item: username, expiresAtMs: NOW + 9_000 }]);
      expect(mine(await store.listCacheRepairs(NOW, 1000))).toEqual([]);
      expect(() =>
        store.addCacheRepair({ kind: 'session', item: 'no spaces allowed', expiresAtMs: NOW }),
      ).toThrow();
    });

    it('should list repairs a page at a time, each after the last of the page before', async () => {
      const kept: CacheRepair[] = [
        ...Array.from({ length: 5 }, () => ({
          kind: 'session' as const,
          item: sessionId(),
          expiresAtMs: NOW + 60_000,
        })),
        ...Array.from({ length: 4 }, (_, i) => ({
          kind: 'user' as const,
          item: uniqueName(`page${i}-`).toLowerCase(),
          expiresAtMs: NOW + 60_000,
        })),
      ];
      for (const repair of kept) await store.addCacheRepair(repair);
      const pages: CacheRepair[][] = [];
      let after: CacheRepair | undefined;
      for (let n = 0; n < 100; n++) {
        const page = await store.listCacheRepairs(NOW, 2, after);
        if (page.length === 0) break;
        pages.push(page);
        after = page.at(-1);
      }
      const all = pages.flat();
      expect(pages.every((page) => page.length <= 2)).toBe(true);
      // Each once, sessions before users, in item order within a kind.
      const keys = all.map((r) => `${r.kind === 'session' ? 1 : 2}:${r.item}`);
      expect(keys).toEqual([...keys].sort());
      expect(new Set(keys).size).toBe(keys.length);
      for (const repair of kept) expect(all).toContainEqual(repair);
      await store.removeCacheRepairs(all);
    });
  });

  describe(`${engine} store: picture checks`, () => {
    it('should list names due, earliest first, keep the later time of two, and remove only as listed', async () => {
      const [a, b, c] = ['a', 'b', 'c'].map((x) =>
        `${x}${uniqueName('').toLowerCase()}`.padEnd(64, '0'),
      ) as [string, string, string];
      const mine = (all: PictureCheck[]) => all.filter((x) => [a, b, c].includes(x.name));
      await store.addPictureChecks([a, b], NOW + 2_000);
      await store.addPictureChecks([a], NOW + 1_000); // the later time stays
      await store.addPictureChecks([c], NOW + 1_500);
      await store.addPictureChecks([], NOW);
      expect(mine(await store.duePictureChecks(NOW + 1_000, 1000))).toEqual([]);
      const due = mine(await store.duePictureChecks(NOW + 2_000, 1000));
      // Earliest first: c, then a and b (the same time) in either order.
      expect(due[0]).toEqual({ name: c, dueAtMs: NOW + 1_500 });
      expect(due.slice(1).sort((x, y) => (x.name < y.name ? -1 : 1))).toEqual([
        { name: a, dueAtMs: NOW + 2_000 },
        { name: b, dueAtMs: NOW + 2_000 },
      ]);
      // A newer change of one name since the listing survives its removal.
      await store.addPictureChecks([b], NOW + 9_000);
      await store.removePictureChecks(due);
      expect(mine(await store.duePictureChecks(NOW + 10_000, 1000))).toEqual([
        { name: b, dueAtMs: NOW + 9_000 },
      ]);
      await store.removePictureChecks([{ name: b, dueAtMs: NOW + 9_000 }]);
      expect(mine(await store.duePictureChecks(NOW + 10_000, 1000))).toEqual([]);
    });
  });

  describe(`${engine} store: listed sessions`, () => {
    const listed = (userId: string, overrides: Partial<ListedSession> = {}): ListedSession => ({
      sessionId: sessionId(),
      userId,
      createdAtMs: NOW,
      expiresAtMs: NOW + 60_000,
      persistent: false,
      address: '2001:db8::1',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      ...overrides,
    });

    it("should list a user's unexpired sessions newest first, across batches of any size", async () => {
      const userId = randomId();
      // 64 + 16 + 4 + 1 + 1: every size of statement the MySQL adapter cuts a batch into.
      const batch = Array.from({ length: 86 }, (_, i) =>
        listed(userId, { createdAtMs: NOW - 86 + i, persistent: i % 2 === 0 }),
      );
      const other = listed(randomId());
      const expired = listed(userId, { expiresAtMs: NOW - 1 });
      await store.saveSessions([...batch, other, expired]);
      const shown = await store.listSessions(userId, NOW, 500);
      expect(shown).toEqual([...batch].reverse());
      expect(await store.listSessions(userId, NOW, 3)).toEqual(batch.slice(-3).reverse());
      expect(await store.listSessions(other.userId, NOW, 10)).toEqual([other]);
      expect(await store.listSessions('not an id', NOW, 10)).toEqual([]);
      await store.saveSessions([]);
    });

    it('should keep the later expiry when a session is saved again (a renewal)', async () => {
      const session = listed(randomId());
      await store.saveSessions([session]);
      await store.saveSessions([{ ...session, expiresAtMs: NOW + 120_000 }]);
      await store.saveSessions([{ ...session, expiresAtMs: NOW + 30_000 }]);
      expect(await store.listSessions(session.userId, NOW, 10)).toEqual([
        { ...session, expiresAtMs: NOW + 120_000 },
      ]);
    });

    it("should delete sessions by id, and a user's sessions begun up to an instant", async () => {
      const userId = randomId();
      const [a, b, c, d] = [1, 2, 3, 4].map((i) => listed(userId, { createdAtMs: NOW - 10 + i }));
      await store.saveSessions([a, b, c, d] as ListedSession[]);
      await store.deleteSessions(userId, [
        (a as ListedSession).sessionId,
        sessionId(),
        'セッション',
      ]);
      // Only the user's own.
      await store.deleteSessions(randomId(), [(b as ListedSession).sessionId]);
      await store.deleteUserSessions(userId, (c as ListedSession).createdAtMs);
      expect(await store.listSessions(userId, NOW, 10)).toEqual([d as ListedSession]);
      await store.deleteSessions('not an id', [(d as ListedSession).sessionId]);
      expect(await store.listSessions(userId, NOW, 10)).toEqual([d as ListedSession]);
    });

    it("should trim a user's list to the newest sessions, leaving other users alone", async () => {
      const userId = randomId();
      const sessions = Array.from({ length: 8 }, (_, i) =>
        listed(userId, { createdAtMs: NOW + i }),
      );
      const other = listed(randomId(), { createdAtMs: NOW - 1000 });
      await store.saveSessions([...sessions, other]);
      await store.trimSessions([userId], 10);
      expect(await store.listSessions(userId, NOW, 20)).toHaveLength(8);
      await store.trimSessions([userId], 3);
      expect(await store.listSessions(userId, NOW, 20)).toEqual(sessions.slice(-3).reverse());
      expect(await store.listSessions(other.userId, NOW, 20)).toEqual([other]);
    });

    it("should trim many users' lists in one call, each to its own newest sessions", async () => {
      // 70 users: more than one chunk of a statement (64), and sizes that need every chunk size.
      const users = Array.from({ length: 70 }, () => randomId());
      const lists = users.map((userId, u) =>
        Array.from({ length: 2 + (u % 7) }, (_, i) => listed(userId, { createdAtMs: NOW + i })),
      );
      // Two sessions begun in the same millisecond as the third newest: both stay.
      const tied = randomId();
      const tiedList = [0, 1, 1, 2, 3].map((t) => listed(tied, { createdAtMs: NOW + t }));
      const untouched = listed(randomId(), { createdAtMs: NOW - 1000 });
      await store.saveSessions([...lists.flat(), ...tiedList, untouched]);
      await store.trimSessions([...users, tied, 'not an id', users[0] as string], 3);
      for (const [u, userId] of users.entries()) {
        const expected = (lists[u] as ListedSession[]).slice(-3).reverse();
        expect(await store.listSessions(userId, NOW, 20)).toEqual(expected);
      }
      expect((await store.listSessions(tied, NOW, 20)).map((s) => s.createdAtMs)).toEqual([
        NOW + 3,
        NOW + 2,
        NOW + 1,
        NOW + 1,
      ]);
      expect(await store.listSessions(untouched.userId, NOW, 20)).toEqual([untouched]);
      await store.trimSessions([], 3);
    });

    it('should purge expired sessions and count them', async () => {
      await store.purgeExpiredSessions(NOW);
      const userId = (await created()).id;
      const live = listed(userId, { expiresAtMs: NOW + 1 });
      const dead = [0, 1, 2].map((i) => listed(userId, { expiresAtMs: NOW - i }));
      await store.saveSessions([live, ...dead]);
      expect(await store.purgeExpiredSessions(NOW)).toBe(3);
      expect(await store.purgeExpiredSessions(NOW)).toBe(0);
      expect(await store.listSessions(userId, NOW, 10)).toEqual([live]);
    });

    it('should purge the unexpired sessions of a user who is gone (a login listed them after the deletion)', async () => {
      await store.purgeExpiredSessions(NOW);
      const [kept, deleted] = [await created(), await created()];
      const [mine, theirs] = [
        listed(kept.id),
        listed(deleted.id, { expiresAtMs: NOW + 86_400_000 }),
      ];
      await store.delete(deleted.id);
      await store.saveSessions([mine, theirs]);
      expect(await store.purgeExpiredSessions(NOW)).toBe(1);
      expect(await store.listSessions(deleted.id, NOW, 10)).toEqual([]);
      expect(await store.listSessions(kept.id, NOW, 10)).toEqual([mine]);
    });

    it('should purge expired sessions of many users, past one range of the walk (regression: no index on expires_at)', async () => {
      await store.purgeExpiredSessions(NOW);
      // 2,600 expired rows over 40 users (more than the MySQL walk's 1,000-row
      // range, with users straddling its edges), and one live row each.
      const users = await Promise.all(Array.from({ length: 40 }, async () => (await created()).id));
      const dead = users.flatMap((userId) =>
        Array.from({ length: 65 }, (_, i) =>
          listed(userId, { createdAtMs: NOW - 100_000 + i, expiresAtMs: NOW - i }),
        ),
      );
      const live = users.map((userId) => listed(userId, { expiresAtMs: NOW + 60_000 }));
      await store.saveSessions([...dead, ...live]);
      expect(await store.purgeExpiredSessions(NOW)).toBe(dead.length);
      for (const session of live)
        expect(await store.listSessions(session.userId, NOW - 1_000_000, 100)).toEqual([session]);
    });
  });

  describe(`${engine} store: housekeeping`, () => {
    it('should answer a ping', async () => {
      await store.ping();
    });

    it('should apply nothing when the migrations run again', async () => {
      const user = await created();
      expect(await subject.migrateAgain()).toEqual([]);
      expect(await store.findById(user.id)).toEqual(user);
    });
  });
}
