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
      // and a queue long enough to hold every login rather than refuse most with 429: as
      // many places, and a deadline long enough for all of their hashes to end in time
      // (the queue refuses a stranger whose hash would not).
      ARGON2_MEMORY_KIB: '19456',
      ARGON2_TIME_COST: '2',
      HASH_CONCURRENCY: String(CONCURRENCY),
      HASH_QUEUE: String(USERS + 100),
      RPC_TIMEOUT_MS: '120000',
    },
  });
  const passwordHash = await stack.tcp.passwords.hash(PASSWORD, Deadline.after(30_000));
  const now = Date.now();
  for (let i = 0; i < 2 * USERS; i++) {
    const created = await stack.tcp.store.create({
      id: String(1_000_000 + i),
      username: `gone${i}`,
      nickname: `Gone ${i}`,
      passwordHash,
      picture: '',
      sessionsValidAfterMs: 0,
      createdAtMs: now,
      updatedAtMs: now,
      totpSecret: '',
      version: 0,
    });
    expect(created).toBe('created');
  }
});
afterAll(() => stack?.stop());

async function settled(until: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!until() && performance.now() < end) await Bun.sleep(5);
}

/** Nothing held any more for a request: pool slots, TCP server calls, hash queue places. */
function released(): boolean {
  return (
    stack.http.pool.stats().inFlight === 0 &&
    stack.tcp.server.inFlight === 0 &&
    stack.tcp.passwords.queueDepth === 0
  );
}

/** Cold logins of users first..first+USERS-1, each hanging up when its signal aborts. */
function logins(first: number, signal: (i: number) => AbortSignal): Promise<string | number>[] {
  return Array.from({ length: USERS }, (_, i) =>
    stack
      .fetch('/open_api/v1/authenticate', {
        ...jsonInit('POST', { username: `gone${first + i}`, password: PASSWORD }),
        signal: signal(i),
      })
      .then(
        (res) => res.status,
        (err: Error) => err.name,
      ),
  );
}

const hungUp = (outcomes: (string | number)[]) =>
  outcomes.filter((o) => o === 'TimeoutError' || o === 'AbortError').length;

describe('integration: a client that hangs up', () => {
  it(`should leave at most a handful of slow hashes to run after ${USERS} cold logins hang up after ${HANG_UP_AFTER_MS} ms`, async () => {
    const { passwords } = stack.tcp;
    const before = { ...passwords.counts };
    lines.length = 0;
    const outcomes = await Promise.all(logins(0, () => AbortSignal.timeout(HANG_UP_AFTER_MS)));
    const atHangUp = passwords.counts.verify;
    await settled(released, 5000);
    const ranAfter = passwords.counts.verify - atHangUp;
    const ranInAll = passwords.counts.verify - before.verify;
    const dropped = passwords.counts.cancelled - before.cancelled;
    console.log(
      `cancellation after ${HANG_UP_AFTER_MS} ms: ${hungUp(outcomes)}/${USERS} hung up; ` +
        `slow hashes run ${ranInAll} in all, ${ranAfter} after the hang-up; ${dropped} dropped from the queue`,
    );

    expect(hungUp(outcomes)).toBeGreaterThan(USERS * 0.9);
    // Every place held for them is given back, and only the hashes already
    // running (plus those whose cancel was still on its way) ran for nobody.
    expect(released()).toBe(true);
    expect(ranAfter).toBeLessThanOrEqual(CONCURRENCY + 4);
    // The client is gone: its own class (499), not a server error, and nothing logged as one.
    // (Only those that reached the server before their client left have a line.)
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.filter((l) => l.status === 499).length).toBeGreaterThan(0);
    expect(requests.filter((l) => l.status !== 499 && l.status !== 200)).toEqual([]);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  }, 30_000);

  // Hanging up after a fixed time may be before any login reached the queue
  // on a busy machine: this one waits until the queue is full of them.
  it('should drop the queued slow hashes of clients that hung up at once, running none of them', async () => {
    const { passwords } = stack.tcp;
    const before = { ...passwords.counts };
    const hangUp = new AbortController();
    const pending = logins(USERS, () => hangUp.signal);
    const queued = Math.min(200, USERS - 10);
    await settled(() => passwords.queueDepth >= queued, 10_000);
    expect(passwords.queueDepth).toBeGreaterThanOrEqual(queued);
    const atHangUp = passwords.counts.verify;
    const hungUpAt = performance.now();
    hangUp.abort();
    const outcomes = await Promise.all(pending);
    // What cancellation frees (the hashes already running finish on their own).
    await settled(() => stack.http.pool.stats().inFlight === 0 && passwords.queueDepth === 0, 5000);
    const releasedAfterMs = performance.now() - hungUpAt;
    await settled(released, 10_000);
    const ranAfter = passwords.counts.verify - atHangUp;
    const dropped = passwords.counts.cancelled - before.cancelled;
    console.log(
      `cancellation with ${queued}+ queued: ${hungUp(outcomes)}/${USERS} hung up; ` +
        `${ranAfter} slow hashes run after the hang-up; ${dropped} dropped from the queue; ` +
        `pool and queue empty after ${Math.round(releasedAfterMs)} ms`,
    );

    expect(released()).toBe(true);
    expect(dropped).toBeGreaterThanOrEqual(queued - CONCURRENCY - 4);
    expect(ranAfter).toBeLessThanOrEqual(CONCURRENCY + 4);
    // Not at their deadlines (5 s): as soon as the cancel frames arrive.
    expect(releasedAfterMs).toBeLessThan(2000);
  }, 30_000);

  it('should still serve a login after the storm, with the queue free', async () => {
    const res = await stack.fetch(
      '/open_api/v1/authenticate',
      jsonInit('POST', { username: 'gone0', password: PASSWORD }),
    );
    expect(res.status).toBe(200);
  }, 10_000);
});
