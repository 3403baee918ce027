/**
 * Redis that answers reads and refuses writes (full under `noeviction`, a
 * read-only replica; here `min-replicas-to-write` with no replica, which
 * refuses every write the same way): two TCP servers on one MariaDB and one
 * private Redis. A logout and a rename through the first must hold on the
 * second, and on the first once restarted, while Redis refuses them: the
 * revocation mirror's sentinel still said "complete", so every other server
 * accepted the logged-out session and served the old row, the first too
 * after a restart, with nothing logged (a failure audit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { bearer, eventually, jsonInit, type Stack, signUp, startStack } from './fixture.ts';
import { createTestDatabase } from './support/mysql.ts';
import { type PrivateRedis, startPrivateRedis, uniquePrefix } from './support/redis.ts';

let redis: PrivateRedis;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
const stacks: Stack[] = [];
const lines: string[] = [];
let env: Record<string, string>;

function start(workerId: string): Promise<Stack> {
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  return startStack({ redis: redis.url, env: { ...env, WORKER_ID: workerId }, log }).then(
    (stack) => {
      stacks.push(stack);
      return stack;
    },
  );
}

const refuseWrites = (on: boolean) =>
  redis.client().config('SET', 'min-replicas-to-write', on ? '1' : '0');

const nicknameOn = async (stack: Stack, token: string) =>
  (
    (await (await stack.fetch('/api/v1/me', bearer(token))).json()) as {
      user: { nickname: string };
    }
  ).user.nickname;

beforeAll(async () => {
  [redis, database] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  env = {
    MYSQL_URL: database.url,
    REDIS_KEY_PREFIX: uniquePrefix(),
    SESSION_SECRET: 'refusing-writes-test-secret'.padEnd(48, '!'),
  };
});
afterAll(async () => {
  for (const stack of stacks) await stack.stop();
  await redis?.stop();
  await database?.drop();
});

describe('integration: Redis answering reads and refusing writes', () => {
  it('should refuse a logged-out session and serve a new nickname on every server, and on a restarted one', async () => {
    const [taker, other] = [await start('1'), await start('2')];
    const leaving = await signUp(taker, 'refused_logout');
    const renamed = await signUp(taker, 'refused_rename');
    // The other server has read both: the session is live, the row is in Redis.
    expect((await other.fetch('/api/v1/me', bearer(leaving))).status).toBe(200);
    expect(await nicknameOn(other, renamed)).toBe('refused_rename');

    await refuseWrites(true);
    expect((await taker.fetch('/api/v1/logout', bearer(leaving, 'POST'))).status).toBe(200);
    const rename = await taker.fetch('/api/v1/me', {
      ...jsonInit('PATCH', { nickname: 'while Redis refused' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${renamed}` },
    });
    expect(rename.status).toBe(200);
    // The server that took them knows at once; the other within a run of the repairs.
    expect((await taker.fetch('/api/v1/me', bearer(leaving))).status).toBe(401);
    expect(
      await eventually(
        async () => (await other.fetch('/api/v1/me', bearer(leaving))).status === 401,
        6000,
      ),
    ).toBe(true);
    expect(
      await eventually(
        async () => (await nicknameOn(other, renamed)) === 'while Redis refused',
        6000,
      ),
    ).toBe(true);

    // Restarted, the server that took the logout holds it before its first check.
    stacks.splice(stacks.indexOf(taker), 1);
    await taker.stop();
    const restarted = await start('1');
    expect((await restarted.fetch('/api/v1/me', bearer(leaving))).status).toBe(401);
    expect(await nicknameOn(restarted, renamed)).toBe('while Redis refused');
    const warned = lines.filter((line) => line.includes('Redis does not take the cache changes'));
    expect(warned.length).toBeGreaterThan(0);
    expect(warned[0]).toContain('NOREPLICAS');

    // Writes taken again: the repairs reach Redis, and the answers stay.
    await refuseWrites(false);
    expect(
      await eventually(
        async () => lines.some((line) => line.includes('Redis takes the cache changes')),
        6000,
      ),
    ).toBe(true);
    for (const stack of [other, restarted]) {
      expect((await stack.fetch('/api/v1/me', bearer(leaving))).status).toBe(401);
      expect(await nicknameOn(stack, renamed)).toBe('while Redis refused');
    }
    // This Redis does not evict: nothing said of it.
    expect(lines.some((line) => line.includes('evicts keys'))).toBe(false);
  }, 60_000);

  it('should say, as an error, that a Redis which evicts keys can let logged-out sessions work again', async () => {
    const said = () => lines.filter((line) => line.includes('evicts keys'));
    const admin = redis.client();
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      // No memory limit: nothing is evicted, whatever the policy.
      await start('3');
      await Bun.sleep(300);
      expect(said()).toEqual([]);
      await admin.config('SET', 'maxmemory', '100mb');
      await start('4');
      expect(await eventually(async () => said().length > 0, 3000)).toBe(true);
      expect(said()[0]).toContain('evicts keys (maxmemory-policy allkeys-lru)');
      expect(JSON.parse(said()[0] as string).level).toBe(50);
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '0');
    }
  }, 30_000);
});
