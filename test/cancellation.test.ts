/**
 * Cancellation end to end: a client that hangs up releases what its request
 * held on both servers (the pool slot, the hash queue place), and its slow
 * hash, if not started, never runs.
 *
 * Regression: nothing was cancellable, so 300 first logins whose clients had
 * gone kept the hash queue busy for seconds, every hash run for nobody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { Deadline } from '../src/lib/deadline.ts';
import { createLogger } from '../src/log.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';

const USERS = 300;
const HANG_UP_AFTER_MS = 50;
const CONCURRENCY = 2;
const PASSWORD = 'a correct horse';

let stack: Stack;
/** Every line both servers logged (debug and up). */
const lines: { level: number; msg: string; status?: number | string }[] = [];

beforeAll(async () => {
  stack = await startStack({
    log: createLogger('test', 'debug', {
      write: (line: string) => void lines.push(JSON.parse(line)),
    }),
    env: {
      // Real argon2id cost (OWASP), so that the queue is the bottleneck it is in production,
      // and a queue long enough to hold every login rather than refuse most with 429.
      ARGON2_MEMORY_KIB: '19456',
      ARGON2_TIME_COST: '2',
      HASH_CONCURRENCY: String(CONCURRENCY),
      HASH_QUEUE: String(USERS + 100),
    },
  });
  const passwordHash = await stack.tcp.passwords.hash(PASSWORD, Deadline.after(30_000));
  const now = Date.now();
  for (let i = 0; i < USERS; i++) {
    const created = await stack.tcp.store.create({
      id: String(1_000_000 + i),
      username: `gone${i}`,
      nickname: `Gone ${i}`,
      passwordHash,
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: now,
      updatedAtMs: now,
    });
    expect(created).toBe('created');
  }
});
afterAll(() => stack?.stop());

async function settled(until: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!until() && performance.now() < end) await Bun.sleep(5);
}

describe('integration: a client that hangs up', () => {
  it(`should leave at most a handful of slow hashes to run after ${USERS} cold logins hang up`, async () => {
    const { passwords } = stack.tcp;
    const before = { ...passwords.counts };
    lines.length = 0;
    const logins = Array.from({ length: USERS }, (_, i) =>
      stack
        .fetch('/open_api/v1/authenticate', {
          ...jsonInit('POST', { username: `gone${i}`, password: PASSWORD }),
          signal: AbortSignal.timeout(HANG_UP_AFTER_MS),
        })
        .then(
          (res) => res.status,
          (err: Error) => err.name,
        ),
    );
    const outcomes = await Promise.all(logins);
    const hungUp = outcomes.filter((o) => o === 'TimeoutError' || o === 'AbortError').length;
    const atHangUp = passwords.counts.verify;

    // Every place held for them is given back: the pool's slots, the TCP
    // server's calls, the hash queue. Only the hashes already running finish.
    await settled(
      () =>
        stack.http.pool.stats().inFlight === 0 &&
        stack.tcp.server.inFlight === 0 &&
        passwords.queueDepth === 0,
      5000,
    );
    const ranAfter = passwords.counts.verify - atHangUp;
    const ranInAll = passwords.counts.verify - before.verify;
    const dropped = passwords.counts.cancelled - before.cancelled;
    console.log(
      `cancellation: ${hungUp}/${USERS} hung up after ${HANG_UP_AFTER_MS} ms; ` +
        `slow hashes run ${ranInAll} in all, ${ranAfter} after the hang-up; ${dropped} dropped unstarted`,
    );

    expect(hungUp).toBeGreaterThan(USERS * 0.9);
    expect(stack.http.pool.stats().inFlight).toBe(0);
    expect(stack.tcp.server.inFlight).toBe(0);
    expect(passwords.queueDepth).toBe(0);
    // A handful: the ones running when the clients left, and those whose
    // cancel frame was still on its way when a thread came free.
    expect(ranAfter).toBeLessThanOrEqual(CONCURRENCY + 4);
    expect(dropped).toBeGreaterThan(USERS / 2);
    expect(ranInAll + dropped).toBeLessThanOrEqual(USERS);
    // The client is gone: its own class (499), not a server error, and nothing logged as one.
    expect(lines.filter((l) => l.msg === 'request' && l.status === 499).length).toBeGreaterThan(
      USERS / 2,
    );
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  }, 30_000);

  it('should still serve a login after the storm, with the queue free', async () => {
    const res = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'gone0', password: PASSWORD }),
    );
    expect(res.status).toBe(200);
  }, 10_000);
});
