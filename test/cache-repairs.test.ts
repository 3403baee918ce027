/**
 * Changes Redis missed, when the TCP server that took them stops before
 * Redis answers again: two TCP servers on one MariaDB and one private Redis;
 * while Redis hangs, a logout and a nickname change go through the first,
 * which then stops. Once Redis answers, the second must refuse the session
 * and show the new nickname (src/core/cache-repairs.ts): before, the token
 * worked on every server for the rest of its life, and the old nickname was
 * served until its TTL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { bearer, eventually, jsonInit, type Stack, signUp, startStack } from './fixture.ts';
import { createTestDatabase } from './support/mysql.ts';
import { type PrivateRedis, startPrivateRedis, uniquePrefix } from './support/redis.ts';

let redis: PrivateRedis;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let first: Stack | null = null;
let second: Stack;

beforeAll(async () => {
  [redis, database] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  const shared = {
    MYSQL_URL: database.url,
    REDIS_KEY_PREFIX: uniquePrefix(),
    SESSION_SECRET: 'cache-repairs-test-secret'.padEnd(48, '!'),
  };
  first = await startStack({ redis: redis.url, env: { ...shared, WORKER_ID: '1' } });
  second = await startStack({ redis: redis.url, env: { ...shared, WORKER_ID: '2' } });
});
afterAll(async () => {
  redis?.resume();
  await first?.stop();
  await second?.stop();
  await redis?.stop();
  await database?.drop();
});

describe('integration: changes Redis missed, after the server that took them stopped', () => {
  it('should refuse a logged-out session and show a new nickname on another server once Redis is back', async () => {
    const taker = first as Stack;
    const leaving = await signUp(taker, 'repair_logout');
    const renamed = await signUp(taker, 'repair_rename');
    // The second server has read both: the session is live, the row is cached.
    expect((await second.fetch('/api/v1/me', bearer(leaving))).status).toBe(200);
    const before = await second.fetch('/api/v1/me', bearer(renamed));
    expect(((await before.json()) as { user: { nickname: string } }).user.nickname).toBe(
      'repair_rename',
    );

    redis.pause();
    const logout = await taker.fetch('/api/v1/logout', bearer(leaving, 'POST'));
    expect(logout.status).toBe(200);
    const rename = await taker.fetch('/api/v1/me', {
      ...jsonInit('PATCH', { nickname: 'after the outage' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${renamed}` },
    });
    expect(rename.status).toBe(200);
    // The server that took both stops while Redis still hangs: what it held in memory is gone.
    await taker.stop();
    first = null;
    redis.resume();

    expect(
      await eventually(
        async () => (await second.fetch('/api/v1/me', bearer(leaving))).status === 401,
        6000,
      ),
    ).toBe(true);
    expect(
      await eventually(async () => {
        const res = await second.fetch('/api/v1/me', bearer(renamed));
        const body = (await res.json()) as { user?: { nickname: string } };
        return body.user?.nickname === 'after the outage';
      }, 6000),
    ).toBe(true);
  }, 30_000);
});
