/**
 * Fair admission to the slow-hash queue on the real stack, with client
 * addresses given through a trusted proxy's X-Forwarded-For: waiting hashes
 * are served one client address after another (an IPv6 client by its /64),
 * known devices first.
 *
 * Issue 14, item 7: 16 addresses, each within its 5/s budget, offered more
 * slow hashes than the hash threads can do; the first-come queue filled with
 * their work, and first logins of other people were refused with 429 (4 of
 * 6), or waited behind the whole queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { MESSAGES } from '../src/wire/messages.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';

const { BAD_CREDENTIALS } = MESSAGES;

/** The production defaults that matter here: a slow hash of some 35 ms on each of two threads. */
const HASHING = {
  TRUST_PROXY: '1',
  ARGON2_MEMORY_KIB: '19456',
  ARGON2_TIME_COST: '2',
  HASH_CONCURRENCY: '2',
};

/** The scenario, at the default budget of 5 slow-hash attempts a second per address. */
let flooded: Stack;
/** Bursts without the per-address budget in the way, and a short queue per address. */
let bursts: Stack;

beforeAll(async () => {
  [flooded, bursts] = await Promise.all([
    startStack({
      store: 'mysql',
      redis: true,
      // The default budget and share of the queue per address (the fixture lifts both).
      env: {
        ...HASHING,
        RATE_LIMIT_IP_PER_S: '5',
        RATE_LIMIT_IP_BURST: '5',
        HASH_QUEUE_PER_ADDRESS: '8',
      },
    }),
    startStack({ env: { ...HASHING, HASH_QUEUE_PER_ADDRESS: '2' } }),
  ]);
});
afterAll(async () => {
  for (const s of [flooded, bursts]) await s?.stop();
});

const password = 'the newcomer password';
/** Addresses flooding at 5 slow hashes a second each: more than two hash threads do. */
const FLOODING = 20;

interface Answer {
  status: number;
  message: string;
  device: string;
}

async function post(
  s: Stack,
  path: string,
  username: string,
  pw: string,
  ip: string,
  device = '',
  signal?: AbortSignal,
): Promise<Answer> {
  const init = jsonInit('POST', { username, password: pw });
  const headers = init.headers as Record<string, string>;
  headers['x-forwarded-for'] = ip;
  if (device !== '') headers.cookie = `device=${device}`;
  const res = await s.fetch(path, { ...init, signal });
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  const cookie = res.headers.getSetCookie().find((line) => line.startsWith('device=')) ?? '';
  return {
    status: res.status,
    message: body.error?.message ?? '',
    device: cookie.slice('device='.length).split(';')[0] ?? '',
  };
}

const login = (
  s: Stack,
  username: string,
  pw: string,
  ip: string,
  device = '',
  signal?: AbortSignal,
) => post(s, '/open_api/v1/authenticate', username, pw, ip, device, signal);

async function register(s: Stack, username: string, ip: string): Promise<number> {
  return (await post(s, '/open_api/v1/register', username, password, ip)).status;
}

/**
 * `addresses` each send a login of a fresh unknown username (a slow hash,
 * counted against nobody's account) every 1000 / perSecond ms, without
 * waiting for the answers: an attacker's open loop, within the budget.
 * The answers are tallied by status and message; stop() hangs up on the
 * calls still unanswered (the server drops their queued hashes).
 */
function flood(s: Stack, addresses: string[], perSecond: number) {
  const answers: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  const hangUp = new AbortController();
  let sent = 0;
  const timers = addresses.map((ip, a) =>
    setInterval(() => {
      const name = `flood_${a}_${sent++}`;
      const attempt = login(s, name, 'a wrong password', ip, '', hangUp.signal).then(
        ({ status, message }) => {
          const kind = `${status} ${message}`;
          answers[kind] = (answers[kind] ?? 0) + 1;
        },
        () => {}, // hung up at stop()
      );
      pending.add(attempt);
      void attempt.finally(() => pending.delete(attempt));
    }, 1000 / perSecond),
  );
  return {
    answers,
    hashed: () => answers[`401 ${BAD_CREDENTIALS}`] ?? 0,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      hangUp.abort();
      await Promise.all(pending);
    },
  };
}

/** Samples the deepest the hash queue gets until stopped. */
function watchQueue(s: Stack) {
  let deepest = 0;
  const timer = setInterval(() => {
    deepest = Math.max(deepest, s.tcp.passwords.queueDepth);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return deepest;
    },
  };
}

const ADDRESS_BUSY = 'too many sign-ins from this address at once';
const OVER_BUDGET = 'too many attempts from this address';

describe('integration: fair admission to the slow hashes', () => {
  // The 16 addresses offered 80 hashes a second against about 57 the threads did.
  // On a slower host the threads do about 77 (26 ms a hash), and 80 left too little
  // surplus: the queue reached 15, not a hash per flooding address (a full CI run).
  // 20 addresses offer 100 a second, more than the threads do on any host seen.
  it('should let a first login from another address in within 2 s while 20 addresses flood within their budgets', async () => {
    const tries = 10;
    const signUps = Array.from({ length: tries }, (_, i) =>
      register(flooded, `newcomer_${i}`, `192.0.2.${100 + i}`),
    );
    expect(await Promise.all(signUps)).toEqual(signUps.map(() => 200));
    const attack = flood(
      flooded,
      Array.from({ length: FLOODING }, (_, a) => `198.51.100.${a + 1}`),
      5,
    );
    const queue = watchQueue(flooded);
    const results: { status: number; ms: number; message: string }[] = [];
    let deepest: number;
    try {
      // A flood under way: the queue full, every flooding address served
      // before (each has had its first turn), as when an attack goes on.
      const until = performance.now() + 10_000;
      await Bun.sleep(1000);
      while (attack.hashed() < 48 && performance.now() < until) await Bun.sleep(50);
      for (let i = 0; i < tries; i++) {
        const started = performance.now();
        const { status, message } = await login(flooded, `newcomer_${i}`, password, '203.0.113.17');
        results.push({ status, message, ms: Math.round(performance.now() - started) });
        await Bun.sleep(300); // within the newcomer's own budget
      }
    } finally {
      deepest = queue.stop();
      await attack.stop();
    }
    // The scenario is the issue's: more slow work offered than the threads do,
    // within the budgets (the per-address limit refused next to nothing). The
    // queue is bounded by time (what ends before its deadline at the pace the
    // hashes run), so how deep it gets follows the machine's pace: at least a
    // hash waiting for every flooding address is what makes the newcomer's
    // place in it matter.
    expect(deepest).toBeGreaterThanOrEqual(FLOODING);
    const hashed = attack.hashed();
    expect(hashed).toBeGreaterThan(48);
    expect(attack.answers[`429 ${OVER_BUDGET}`] ?? 0).toBeLessThan(hashed / 10);
    const inTime = results.filter((r) => r.status === 200 && r.ms < 2000);
    if (inTime.length < 9) console.error({ newcomer: results, flood: attack.answers });
    expect(inTime.length).toBeGreaterThanOrEqual(9);
  }, 60_000);

  it('should give the addresses of one IPv6 /64 one queue, and distinct /64s one each', async () => {
    /** 16 unknown-username logins at once from `addresses`: the answers by message. */
    const burst = async (addresses: string[], tag: string) => {
      const answers = await Promise.all(
        addresses.map((ip, i) => login(bursts, `burst_${tag}_${i}`, 'a wrong password', ip)),
      );
      return {
        hashed: answers.filter((a) => a.status === 401).length,
        addressBusy: answers.filter((a) => a.message === ADDRESS_BUSY).length,
      };
    };
    const oneNet = await burst(
      Array.from({ length: 16 }, (_, i) => `2001:db8:0:1::${(i + 1).toString(16)}`),
      'one',
    );
    const manyNets = await burst(
      Array.from({ length: 16 }, (_, i) => `2001:db8:${(i + 1).toString(16)}::1`),
      'many',
    );
    // One /64: two hashes running and two waiting at most, each a turn of the
    // same client; the rest refused at once rather than queued.
    expect(oneNet.addressBusy).toBeGreaterThanOrEqual(8);
    expect(oneNet.hashed + oneNet.addressBusy).toBe(16);
    // Sixteen /64s: sixteen clients, each with room in its own queue.
    expect(manyNets).toEqual({ hashed: 16, addressBusy: 0 });
  }, 30_000);

  it('should serve a known device ahead of strangers already waiting', async () => {
    expect(await register(bursts, 'device_owner', '192.0.2.1')).toBe(200);
    expect(await register(bursts, 'first_timer', '192.0.2.2')).toBe(200);
    const first = await login(bursts, 'device_owner', password, '203.0.113.5');
    expect(first.status).toBe(200);
    expect(first.device).not.toBe('');
    await bursts.restartTcp(); // an empty memo: the owner's next login costs a slow hash
    // Strangers from 24 addresses, one slow hash each, all queued before the owner comes.
    let strangersDone = 0;
    const strangers = Array.from({ length: 24 }, (_, i) =>
      login(bursts, `stranger_${i}`, 'a wrong password', `198.51.100.${100 + i}`).then((a) => {
        strangersDone++;
        return a.status;
      }),
    );
    const until = performance.now() + 2000;
    while (bursts.tcp.passwords.queueDepth < 16 && performance.now() < until) await Bun.sleep(1);
    const queuedAhead = bursts.tcp.passwords.queueDepth;
    const doneBefore = strangersDone;
    // At the same moment: the owner from the browser that logged in before,
    // and someone else's first login (a stranger to the queue).
    const [owner, firstTimer] = await Promise.all([
      login(bursts, 'device_owner', password, '203.0.113.6', first.device).then((a) => ({
        status: a.status,
        strangersAfter: strangersDone - doneBefore,
      })),
      login(bursts, 'first_timer', password, '203.0.113.7').then((a) => ({
        status: a.status,
        strangersAfter: strangersDone - doneBefore,
      })),
    ]);
    expect(await Promise.all(strangers)).toEqual(strangers.map(() => 401));
    expect(queuedAhead).toBeGreaterThanOrEqual(16);
    expect(owner.status).toBe(200);
    expect(firstTimer.status).toBe(200);
    // The owner waited for the hashes already running, not for the queue: the
    // two running, one beside the owner's, and one more at most, since a known
    // client's hash runs on the normal-priority threads, started on first use
    // (a new thread's first hash is several times slower than the next).
    expect(owner.strangersAfter).toBeLessThanOrEqual(4);
    expect(firstTimer.strangersAfter).toBeGreaterThan(owner.strangersAfter);
  }, 30_000);
});
