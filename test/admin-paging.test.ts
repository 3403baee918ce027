/**
 * Keyset pagination of GET /users under concurrent writes, on MariaDB and
 * Redis: 25,000 users seeded straight into the test's own database, walked
 * with limit=500 (in id order, and in username order under a prefix) while
 * users are created and deleted, ahead of the cursor and behind it.
 *
 * What must hold: every user that exists for the whole walk is listed
 * exactly once, in order; a user deleted before the walk reaches it is not
 * listed, one created ahead of the cursor is; nothing else appears.
 */

import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import mysql from 'mysql2/promise';
import type { AdminUserJson } from '../src/http/user-json.ts';
import { Deadline } from '../src/lib/deadline.ts';
import type { UserRow } from '../src/store/port.ts';
import { PASSWORD, type Stack, startStack } from './fixture.ts';

const TOKEN = 'paging-admin-token-'.padEnd(48, '7');
const SEEDED = 25_000;
/** Seeded ids are BASE + 4i: above 2^53 (so exactness matters), below the server's snowflakes. */
const BASE = (1n << 54n) + 1n;
const idOf = (i: number) => BASE + 4n * BigInt(i);
const nameOf = (i: number) => `s${String(i).padStart(5, '0')}`;
/** A walk is 50 pages with writes between them: seconds on a loaded machine, not a hang. */
const WALK_TIMEOUT_MS = 60_000;

let stack: Stack;
let passwordHash = '';
/** Gap ids (between seeded ones) already inserted by any test: ids are never reused. */
const gapsUsed = new Set<bigint>();

beforeAll(async () => {
  stack = await startStack({ store: 'mysql', redis: true, env: { ADMIN_TOKEN: TOKEN } });
  passwordHash = await stack.tcp.passwords.hash('seeded password', Deadline.after(10_000));
  const db = await mysql.createConnection({ uri: stack.config.mysql.url });
  try {
    const now = Date.now();
    for (let first = 0; first < SEEDED; first += 2500) {
      const rows = [];
      for (let i = first; i < first + 2500; i++) {
        rows.push([idOf(i), nameOf(i), `Seeded ${i}`, passwordHash, '', 0, now, now]);
      }
      await db.query(
        'INSERT INTO users (id, username, nickname, password_hash, picture, ' +
          'sessions_valid_after, created_at, updated_at) VALUES ?',
        [rows],
      );
    }
  } finally {
    await db.end();
  }
});
afterAll(() => stack?.stop());

async function page(
  query: string,
): Promise<{ users: AdminUserJson[]; next_cursor: string | null }> {
  const res = await stack.fetch(`/users?${query}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { users: AdminUserJson[]; next_cursor: string | null };
}

function row(id: bigint, username: string): UserRow {
  const now = Date.now();
  return {
    id: String(id),
    username,
    nickname: username,
    passwordHash,
    picture: '',
    sessionsValidAfterMs: 0,
    createdAtMs: now,
    updatedAtMs: now,
    totpSecret: '',
    version: 0,
  };
}

async function deleteUser(id: bigint | string): Promise<void> {
  const res = await stack.fetch(`/users/${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect([204, 404]).toContain(res.status);
}

/** A random seeded index in [from, to), or null when the range is empty. */
function pick(from: number, to: number): number | null {
  if (to <= from) return null;
  return from + Math.floor(Math.random() * (to - from));
}

/**
 * Writers that run until stopped: users created through the API (snowflake
 * ids, after every seeded one), users inserted into the gaps between seeded
 * ids (anywhere), and seeded users deleted through the API.
 */
function backgroundWriters(deleted: Set<string>, created: Set<string>) {
  let running = true;
  const counts = { created: 0, inserted: 0, deleted: 0 };
  const failures: unknown[] = [];
  const loops = [
    (async () => {
      for (let n = 0; running; n++) {
        const res = await stack.fetch('/users', {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            username: `api_${Date.now().toString(36)}_${n}`,
            password: PASSWORD,
          }),
        });
        expect(res.status).toBe(201);
        created.add(((await res.json()) as { user: AdminUserJson }).user.id);
        counts.created++;
      }
    })(),
    (async () => {
      while (running) {
        const i = pick(0, SEEDED) as number;
        const id = idOf(i) + 2n;
        if (gapsUsed.has(id)) continue;
        gapsUsed.add(id);
        expect(await stack.tcp.store.create(row(id, `${nameOf(i)}b`))).toBe('created');
        created.add(String(id));
        counts.inserted++;
      }
    })(),
    (async () => {
      while (running) {
        const id = String(idOf(pick(0, SEEDED) as number));
        deleted.add(id); // before the call: from now on it may be gone
        await deleteUser(id);
        counts.deleted++;
        await Bun.sleep(1);
      }
    })(),
  ].map((loop) => loop.catch((err) => failures.push(err)));
  return {
    counts,
    /** Stops the writers; throws what made one of them fail. */
    async stop() {
      running = false;
      await Promise.all(loops);
      if (failures.length > 0) throw failures[0];
    },
  };
}

describe('integration: paging 25,000 users while they change', () => {
  it(
    'should list every user present for the whole walk exactly once, in id order',
    async () => {
      const deleted = new Set<string>();
      const created = new Set<string>();
      // Gone before the walk starts: never listed.
      for (const i of [0, 1, 12_345, SEEDED - 1]) {
        deleted.add(String(idOf(i)));
        await deleteUser(idOf(i));
      }
      const goneBefore = new Set(deleted);
      const mustAppear = new Set<string>();
      const mustNotAppear = new Set<string>(goneBefore);

      const writers = backgroundWriters(deleted, created);
      const seen: string[] = [];
      let cursor: string | null = '';
      let pages = 0;
      try {
        while (cursor !== null) {
          const result = await page(`limit=500${cursor ? `&cursor=${cursor}` : ''}`);
          seen.push(...result.users.map((u) => u.id));
          cursor = result.next_cursor;
          pages++;
          if (cursor === null) break;
          expect(result.users).toHaveLength(500);
          // Between two pages, change the table just ahead of the cursor and just behind it.
          const at = Number((BigInt(seen.at(-1) as string) - BASE) / 4n);
          const ahead = pick(at + 1, Math.min(at + 400, SEEDED));
          const behind = pick(Math.max(0, at - 400), at);
          for (const [i, where] of [
            [ahead, 'ahead'],
            [behind, 'behind'],
          ] as const) {
            if (i === null) continue;
            const gapId = idOf(i) + 1n;
            if (gapsUsed.has(gapId)) continue;
            gapsUsed.add(gapId);
            expect(await stack.tcp.store.create(row(gapId, `${nameOf(i)}a`))).toBe('created');
            created.add(String(gapId));
            const victim = String(idOf(i === ahead ? Math.min(i + 1, SEEDED - 1) : i));
            if (!deleted.has(victim)) {
              deleted.add(victim);
              await deleteUser(victim);
              if (where === 'ahead') mustNotAppear.add(victim);
            }
            if (where === 'ahead') mustAppear.add(String(gapId));
          }
        }
      } finally {
        await writers.stop();
      }

      expect(pages).toBeGreaterThanOrEqual(50);
      expect(writers.counts.created).toBeGreaterThan(5);
      expect(writers.counts.inserted).toBeGreaterThan(5);
      expect(writers.counts.deleted).toBeGreaterThan(5);
      // In strictly increasing id order, hence no id twice.
      for (let k = 1; k < seen.length; k++) {
        if (BigInt(seen[k] as string) <= BigInt(seen[k - 1] as string)) {
          throw new Error(`out of order at ${k}: ${seen[k - 1]} then ${seen[k]}`);
        }
      }
      const listed = new Set(seen);
      const stable = Array.from({ length: SEEDED }, (_, i) => String(idOf(i))).filter(
        (id) => !deleted.has(id),
      );
      expect(stable.length).toBeGreaterThan(SEEDED - 500);
      expect(stable.filter((id) => !listed.has(id))).toEqual([]);
      expect([...mustAppear].filter((id) => !listed.has(id))).toEqual([]);
      expect([...mustNotAppear].filter((id) => listed.has(id))).toEqual([]);
      const seededIds = new Set(Array.from({ length: SEEDED }, (_, i) => String(idOf(i))));
      expect(seen.filter((id) => !seededIds.has(id) && !created.has(id))).toEqual([]);
    },
    WALK_TIMEOUT_MS,
  );

  it(
    'should list every user of a prefix present for the whole walk exactly once, in username order',
    async () => {
      const prefix = 's1'; // s10000 .. s19999, and the gap users named after them
      const deleted = new Set<string>();
      const created = new Set<string>();
      const writers = backgroundWriters(deleted, created);
      const seen: AdminUserJson[] = [];
      let cursor: string | null = '';
      try {
        while (cursor !== null) {
          const result = await page(
            `limit=500&username_prefix=${prefix}${cursor ? `&cursor=${cursor}` : ''}`,
          );
          seen.push(...result.users);
          cursor = result.next_cursor;
        }
      } finally {
        await writers.stop();
      }
      expect(writers.counts.deleted).toBeGreaterThan(5);

      // Usernames here are lower-case letters and digits: JavaScript order is the collation's.
      const names = seen.map((u) => u.username);
      for (let k = 1; k < names.length; k++) {
        if ((names[k] as string) <= (names[k - 1] as string)) {
          throw new Error(`out of order at ${k}: ${names[k - 1]} then ${names[k]}`);
        }
      }
      expect(names.every((name) => name.startsWith(prefix))).toBe(true);
      const listed = new Set(seen.map((u) => u.id));
      // Seeded users of the prefix that exist now and were not deleted during the
      // walk existed all along (the first test deleted some for good).
      const db = await mysql.createConnection({
        uri: stack.config.mysql.url,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });
      const [rows] = await db.query<mysql.RowDataPacket[]>(
        'SELECT id FROM users WHERE id BETWEEN ? AND ? AND (id - ?) % 4 = 0',
        [idOf(10_000), idOf(19_999), BASE],
      );
      await db.end();
      const stable = rows.map((r) => String(r.id)).filter((id) => !deleted.has(id));
      expect(stable.length).toBeGreaterThan(9000);
      expect(stable.filter((id) => !listed.has(id))).toEqual([]);
    },
    WALK_TIMEOUT_MS,
  );
});
