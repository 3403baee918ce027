/**
 * Brute-force protection on the real stack (MariaDB, Redis): counted
 * atomically in Redis, checked before the slow hash, owner never locked out,
 * still enforced (in process) when Redis is down and carried over to Redis
 * when it returns; a herd of correct logins is not throttled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { type PrivateRedis, startPrivateRedis, TEST_REDIS_URL } from './support/redis.ts';

let redis: PrivateRedis;
let stack: Stack;
let strictIp: Stack;
let strictIpMysql: Stack;
/** The herd and the parallel guesses, with the counts in Redis and in this process. */
let withRedis: Stack;
let withoutRedis: Stack;

beforeAll(async () => {
  redis = await startPrivateRedis();
  const strict = { RATE_LIMIT_IP_PER_S: '1', RATE_LIMIT_IP_BURST: '3' };
  // A slow hash of some 30 ms or more (19 MiB, 2 passes), as in production: the
  // parallel logins of a test must arrive while the first one's hash runs, also
  // on a busy machine, or "one hash for all of them" would not be what is tested.
  const herd = { RATE_LIMIT_USER_ATTEMPTS: '5', ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '2' };
  [stack, strictIp, strictIpMysql, withRedis, withoutRedis] = await Promise.all([
    startStack({
      store: 'mysql',
      redis: redis.url,
      env: { RATE_LIMIT_USER_ATTEMPTS: '10', RATE_LIMIT_USER_DELAY_MS: '60000' },
    }),
    startStack({ env: strict }),
    startStack({ store: 'mysql', redis: true, env: strict }),
    startStack({ redis: true, env: herd }),
    startStack({ env: herd }),
  ]);
});
afterAll(async () => {
  for (const s of [stack, strictIp, strictIpMysql, withRedis, withoutRedis]) await s?.stop();
  await redis?.stop();
});

const password = 'the right password';
const USER_LIMIT =
  'too many failed logins for this account; each further failed one makes the wait longer';

async function login(s: Stack, username: string, pw: string, cookie?: string) {
  const init = jsonInit('POST', { username, password: pw });
  if (cookie) (init.headers as Record<string, string>).cookie = cookie;
  const res = await s.fetch('/open_api/v1/authenticate', init);
  const body = (await res.json()) as { token?: string; error?: { code: string; message: string } };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

async function register(s: Stack, username: string) {
  return (await s.fetch('/open_api/v1/register', jsonInit('POST', { username, password }))).status;
}

describe('integration: brute-force protection', () => {
  it('should run at most the limit of slow hashes for 50 parallel wrong passwords, and refuse the rest with 429', async () => {
    expect(await register(stack, 'victim')).toBe(200);
    const owner = await login(stack, 'victim', password); // the owner's session, before the attack
    const before = stack.tcp.passwords.counts.verify;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => login(stack, 'victim', `guess number ${i}`)),
    );
    // The owner's successful login counted nothing: exactly the limit of 10 is hashed.
    expect(stack.tcp.passwords.counts.verify - before).toBe(10);
    expect(answers.filter((a) => a.status === 401).length).toBe(10);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBe(40);
    expect(refused[0]?.body.error?.code).toBe('RESOURCE_EXHAUSTED');
    expect(Number(refused[0]?.retryAfter)).toBeGreaterThan(0);

    // The right password is refused too, without a hash: throttling must not reveal it.
    const hashes = stack.tcp.passwords.counts.verify;
    expect((await login(stack, 'victim', password)).status).toBe(429);
    expect(stack.tcp.passwords.counts.verify).toBe(hashes);

    // The owner, showing its session, is not locked out: judged by the session's own count.
    const cookie = `session=${owner.body.token}`;
    expect((await login(stack, 'victim', password, cookie)).status).toBe(200);
  });

  it('should keep counting in process while Redis is down, and carry the counts over when it returns', async () => {
    expect(await register(stack, 'victim2')).toBe(200);
    await redis.kill();
    try {
      // Spread over 20 ms, so that some arrive while earlier ones are being settled.
      const answers = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          await Bun.sleep(i);
          return login(stack, 'victim2', `guess ${i}`);
        }),
      );
      // Each answer with its message: a 429 of the hash queue is not the account's limit.
      const told = answers.map((a) => `${a.status} ${a.body.error?.message}`).sort();
      expect(told).toEqual([
        ...Array(10).fill('401 invalid username or password'),
        ...Array(10).fill(`429 ${USER_LIMIT}`),
      ]);
    } finally {
      await redis.start();
    }
    // The ten failures reach the (emptied) Redis once the server sees it again.
    const client = redis.client();
    const key = `${stack.config.redis.keyPrefix}rl:u:victim2`;
    let value: string | null = null;
    for (let i = 0; i < 200 && value === null; i++) {
      value = await client.get(key).catch(() => null);
      if (value === null) await Bun.sleep(25);
    }
    client.disconnect();
    expect(value).toMatch(/^10(:|$)/); // the whole value, when it is not
    // Still throttled: the right password is refused, as it was during the outage.
    const after = await login(stack, 'victim2', password);
    expect(`${after.status} ${after.body.error?.message}`).toBe(`429 ${USER_LIMIT}`);
  });

  it('should limit slow-hash attempts per address, but not logins the memo answers', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await register(strictIp, `address_${i}`));
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    await Bun.sleep(1100); // one token back
    expect((await login(strictIp, 'address_0', password)).status).toBe(200); // slow: takes the token
    for (let i = 0; i < 10; i++)
      expect((await login(strictIp, 'address_0', password)).status).toBe(200); // memo
    expect((await login(strictIp, 'address_1', password)).status).toBe(429); // slow again: no token left
  });

  // Once an address had spent its allowance, sign-up answered 409 for taken
  // names and 429 for free ones: a free list of which usernames exist.
  for (const [mode, s] of [
    ['SQLite, no cache', () => strictIp],
    ['MariaDB and Redis', () => strictIpMysql],
  ] as const) {
    it(`should answer taken and free names alike once an address spent its sign-ups (${mode})`, async () => {
      const target = s();
      await Bun.sleep(3100); // a full bucket
      const prefix = `enum_${mode[0]}`.toLowerCase();
      expect(await register(target, `${prefix}_taken`)).toBe(200);
      // Spent: sign-ups until one is refused (on a busy machine the bucket of 3 refills
      // while three slow sign-ups run), then the two names at once, well within a second.
      const spent: number[] = [];
      for (let i = 0; i < 10 && spent.at(-1) !== 429; i++)
        spent.push(await register(target, `${prefix}_${i}`));
      expect(spent.at(-1)).toBe(429);
      expect(spent.slice(0, 2)).toEqual([200, 200]);
      const answers = [];
      for (const name of [`${prefix}_taken`, `${prefix}_free`]) {
        const res = await target.fetch(
          '/open_api/v1/register',
          jsonInit('POST', { username: name, password }),
        );
        answers.push({ status: res.status, body: await res.json() });
      }
      expect(answers[0]?.status).toBe(429);
      expect(answers[0]).toEqual(answers[1] as (typeof answers)[number]);
    });
  }
});

/** The failures (and attempts in flight) counted for `username`, where that stack keeps them. */
async function countOf(s: Stack, username: string): Promise<string | null> {
  if (s.tcp.cache === null) {
    const state = await s.tcp.limits.peekUser(username);
    return state.failures === 0 && state.untilMs === 0 ? null : JSON.stringify(state);
  }
  const client = new Redis(TEST_REDIS_URL);
  try {
    return await client.get(`${s.config.redis.keyPrefix}rl:u:${username.toLowerCase()}`);
  } finally {
    client.disconnect();
  }
}

describe('integration: a herd of correct logins', () => {
  for (const [mode, s] of [
    ['counts in Redis', () => withRedis],
    ['counts in process', () => withoutRedis],
  ] as const) {
    // Seen after every fresh start: 1000 connections over 200 users, all with
    // the right password, were 90 % refused with "too many attempts for this
    // account", because each login that missed the memo counted an attempt.
    it(`should let 300 concurrent correct logins of 5 users in from cold, one slow hash each, counting nothing (${mode})`, async () => {
      const target = s();
      const users = Array.from({ length: 5 }, (_, i) => `herd_${i}`);
      for (const u of users) expect(await register(target, u)).toBe(200);
      await target.restartTcp(); // an empty memo
      const before = target.tcp.passwords.counts.verify;
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) => login(target, users[i % 5] as string, password)),
      );
      expect(answers.map((a) => a.status).filter((status) => status !== 200)).toEqual([]);
      expect(target.tcp.passwords.counts.verify - before).toBe(users.length);
      for (const u of users) expect(await countOf(target, u)).toBeNull();
    });

    it(`should share one slow hash among parallel identical wrong passwords, counted once (${mode})`, async () => {
      const target = s();
      expect(await register(target, 'same_guess')).toBe(200);
      const before = target.tcp.passwords.counts.verify;
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => login(target, 'same_guess', 'one wrong guess')),
      );
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 401));
      expect(target.tcp.passwords.counts.verify - before).toBe(1);
      expect((await target.tcp.limits.peekUser('same_guess')).failures).toBe(1);
    });

    it(`should run at most the limit of slow hashes for 30 parallel different wrong passwords (${mode})`, async () => {
      const target = s();
      expect(await register(target, 'many_guesses')).toBe(200);
      const before = target.tcp.passwords.counts.verify;
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => login(target, 'many_guesses', `guess ${i}`)),
      );
      expect(target.tcp.passwords.counts.verify - before).toBe(5);
      expect(answers.filter((a) => a.status === 401).length).toBe(5);
      expect(answers.filter((a) => a.status === 429).length).toBe(25);
    });
  }
});
