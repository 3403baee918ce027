/**
 * Brute-force protection on the real stack (MariaDB, Redis): counted
 * atomically in Redis, checked before the slow hash, owner never locked out,
 * and still enforced (in process) when Redis is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { type PrivateRedis, startPrivateRedis } from './support/redis.ts';

let redis: PrivateRedis;
let stack: Stack;
let strictIp: Stack;

beforeAll(async () => {
  redis = await startPrivateRedis();
  stack = await startStack({
    store: 'mysql',
    redis: redis.url,
    env: { RATE_LIMIT_USER_ATTEMPTS: '10', RATE_LIMIT_USER_DELAY_MS: '60000' },
  });
  strictIp = await startStack({ env: { RATE_LIMIT_IP_PER_S: '1', RATE_LIMIT_IP_BURST: '3' } });
});
afterAll(async () => {
  await stack?.stop();
  await strictIp?.stop();
  await redis?.stop();
});

const password = 'the right password';

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
    // The owner's successful login reset the count: exactly the limit of 10 is hashed.
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

    // The owner, showing its session, is not locked out; and success resets the count.
    const cookie = `session=${owner.body.token}`;
    expect((await login(stack, 'victim', password, cookie)).status).toBe(200);
  });

  it('should keep counting in process while Redis is down', async () => {
    expect(await register(stack, 'victim2')).toBe(200);
    await redis.kill();
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(stack, 'victim2', `guess ${i}`)),
      );
      expect(answers.filter((a) => a.status === 401).length).toBe(10);
      expect(answers.filter((a) => a.status === 429).length).toBe(10);
    } finally {
      await redis.start();
    }
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
});
