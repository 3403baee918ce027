import { describe, expect, it } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { Deadline } from '../lib/deadline.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { HASH_THREAD_NAME } from './hash-threads.ts';
import { Passwords } from './passwords.ts';

const CHEAP = { memoryKiB: 1024, timeCost: 1 };
const later = () => Deadline.after(10_000);

/** The nice value of every thread of this process, by thread id. */
function niceByThread(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read (other tests' threads do)
    }
    // Fields after "(comm) ": state is field 3, nice is field 19.
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    nice.set(Number(tid), Number(fields[16]));
  }
  return nice;
}

describe('unit: Passwords', () => {
  it('should verify the password a hash was made from, and nothing else', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 2, maxWaiting: 8 });
    try {
      const hash = await passwords.hash('correct horse', later());
      expect(hash).toStartWith('$argon2id$v=19$m=1024,t=1,');
      expect(await passwords.verify('correct horse', hash, later())).toBe(true);
      expect(await passwords.verify('wrong horse', hash, later())).toBe(false);
      expect(await passwords.verify('correct horse', 'not a hash', later())).toBe(false);
      await passwords.verifyUnknown('anything', later());
      expect(passwords.counts).toEqual({ hash: 1, verify: 4, strength: 0, cancelled: 0 });
    } finally {
      passwords.close();
    }
  });

  // Regression: the estimator ran on the event loop before any limit, and a few sign-ups a
  // second with crafted passwords (50 to 300 ms each) stalled every login (an attack pass).
  it('should estimate new passwords on a thread, in the queue of the slow hashes', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 0 });
    try {
      await passwords.warmEstimator();
      expect(await passwords.weakness('correct horse battery staple', ['alice'], later())).toBe(
        null,
      );
      expect(await passwords.weakness('12345678', [], later())).toStartWith(
        'password must be hard to guess',
      );
      expect(
        await passwords.weakness('kettle-violet-orbit', ['kettle-violet-orbit'], later()),
      ).not.toBe(null);
      // Crafted passwords while a timer measures how late the event loop gets to it.
      let lateMs = 0;
      let last = performance.now();
      const ticker = setInterval(() => {
        const now = performance.now();
        lateMs = Math.max(lateMs, now - last - 5);
        last = now;
      }, 5);
      const started = performance.now();
      const crafted = ['1234567890'.repeat(13), '19870412'.repeat(16), 'a1!B'.repeat(32)];
      for (const password of crafted)
        expect(await passwords.weakness(password, ['alice'], later())).not.toBe(null);
      const tookMs = performance.now() - started;
      clearInterval(ticker);
      // The estimates took their time, and none of it on this thread.
      expect(tookMs).toBeGreaterThan(30);
      expect(lateMs).toBeLessThan(tookMs / 3);
      // One slot, none waiting: a second estimate beside a running one is refused at once,
      // and a hash is not: estimates have slots of their own (regression, a review: holding
      // the hashes' slots while waiting for their one thread, they cut logins to a fifth).
      const running = passwords.weakness(crafted[0] as string, [], later());
      const refused = await passwords.weakness('another one', [], later()).catch((e) => e);
      expect((refused as RpcError).code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(await passwords.hash('beside the estimate', later())).toStartWith('$argon2id$');
      await running;
      expect(passwords.counts).toEqual({ hash: 1, verify: 0, strength: 7, cancelled: 0 });
    } finally {
      passwords.close();
    }
  });

  it('should spend a full slow hash on an empty password, as on a wrong one, and answer it wrong', async () => {
    const ran: number[] = [];
    const options = { memoryKiB: 19_456, timeCost: 2, concurrency: 1, maxWaiting: 8 };
    const passwords = new Passwords(options, (_waited, ranMs) => ran.push(ranMs));
    try {
      const hash = await passwords.hash('correct horse', later());
      const wrong: number[] = [];
      const empty: number[] = [];
      for (let i = 0; i < 3; i++) {
        expect(await passwords.verify('wrong horse', hash, later())).toBe(false);
        wrong.push(ran.at(-1) as number);
        expect(await passwords.verify('', hash, later())).toBe(false);
        empty.push(ran.at(-1) as number);
      }
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[1] as number;
      // Without the stand-in Bun answers '' in about 0.07 ms, a wrong password in about 20:
      // a tenth keeps that 300-fold gap plain on a loaded machine (a third failed beside
      // other jobs: 41 against 148 ms).
      expect(median(empty)).toBeGreaterThan(median(wrong) / 10);
    } finally {
      passwords.close();
    }
  }, 30_000);

  it('should refuse at once with RESOURCE_EXHAUSTED when the queue is full', async () => {
    const passwords = new Passwords({
      memoryKiB: 19456,
      timeCost: 2,
      concurrency: 1,
      maxWaiting: 1,
    });
    try {
      const running = passwords.hash('one', later());
      let hashed = false;
      void running.then(() => {
        hashed = true;
      });
      const waiting = passwords.hash('two', later());
      const refused = await passwords.hash('three', later()).catch((err: unknown) => err);
      // At once: before the one slow hash running could finish (a wall-clock
      // bound would measure the machine's load as much as the queue).
      expect(hashed).toBe(false);
      expect(refused).toBeInstanceOf(RpcError);
      expect((refused as RpcError).code).toBe(Status.RESOURCE_EXHAUSTED);
      await Promise.all([running, waiting]);
    } finally {
      passwords.close();
    }
  });

  // Regression (a fault run): before a fresh process had its first estimate, a queued
  // hash waited to its deadline and answered DEADLINE_EXCEEDED, and every login of the
  // same credential that had joined its flight got that 504 at the same moment.
  it('should refuse a queued hash with RESOURCE_EXHAUSTED before its deadline, even before the first estimate', async () => {
    const passwords = new Passwords({
      memoryKiB: 65536,
      timeCost: 3,
      concurrency: 1,
      maxWaiting: 8,
    });
    try {
      expect(passwords.hashMs).toBe(0);
      const running = passwords.hash('one', later());
      const deadline = Deadline.after(80);
      const refused = await passwords.hash('two', deadline).catch((err: unknown) => err);
      // Still no estimate: the one running has not ended (nor has the start's own).
      expect(passwords.hashMs).toBe(0);
      expect(deadline.expired()).toBe(false);
      expect(refused).toBeInstanceOf(RpcError);
      expect((refused as RpcError).code).toBe(Status.RESOURCE_EXHAUSTED);
      await running;
    } finally {
      passwords.close();
    }
  });

  // A client that hung up kept its place in the hash queue until its deadline,
  // and its slow hash ran for nobody.
  it('should drop a queued hash at once when its caller is gone, and never start it', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 8 });
    try {
      const hash = await passwords.hash('correct horse', later());
      const running = passwords.verify('correct horse', hash, later());
      const gone = later();
      const dropped = passwords.verify('correct horse', hash, gone).catch((err: unknown) => err);
      const next = passwords.verify('correct horse', hash, later());
      expect(passwords.queueDepth).toBe(2);
      gone.cancel();
      const error = await dropped;
      expect((error as RpcError).code).toBe(Status.CANCELLED);
      expect(passwords.queueDepth).toBe(1);
      expect(await Promise.all([running, next])).toEqual([true, true]);
      expect(passwords.counts).toEqual({ hash: 1, verify: 2, strength: 0, cancelled: 1 });
    } finally {
      passwords.close();
    }
  });

  // Issue 14, item 7: in first-come order a few busy addresses held the whole
  // queue, and other people's first logins were refused.
  it('should queue hashes by client: one /64 is one client, known devices go first', async () => {
    const passwords = new Passwords({
      ...CHEAP,
      concurrency: 1,
      maxWaiting: 8,
      maxWaitingPerClient: 2,
    });
    try {
      const hash = await passwords.hash('correct horse', later());
      const order: string[] = [];
      const verify = (name: string, clientIp: string, known = false) =>
        passwords
          .verify('correct horse', hash, later(), { clientIp, known })
          .then(() => order.push(name));
      const running = verify('running', '192.0.2.1');
      const flood = [verify('v6 a', '2001:db8:0:1::a'), verify('v6 b', '2001:db8:0:1::b')];
      // A third address of that /64 is the same client: its queue is full.
      const third = { clientIp: '2001:db8:0:1::c', known: false };
      expect(() => passwords.refuseIfFull(third)).toThrow(
        'too many sign-ins from this address at once',
      );
      const refused = await passwords
        .verify('correct horse', hash, later(), third)
        .catch((err: unknown) => err);
      expect((refused as RpcError).code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(() =>
        passwords.refuseIfFull({ clientIp: '2001:db8:0:2::1', known: false }),
      ).not.toThrow();
      const stranger = verify('stranger', '198.51.100.1');
      const device = verify('device', '198.51.100.2', true);
      await Promise.all([running, ...flood, stranger, device]);
      expect(order).toEqual(['running', 'device', 'v6 a', 'stranger', 'v6 b']);
      expect(passwords.counts.verify).toBe(5);
    } finally {
      passwords.close();
    }
  });

  // The storm in test/faults: slow hashes at normal priority took both cores
  // from the event loops, and cheap logins waited behind wrong passwords.
  it('should run slow hashes on threads at the lowest priority, leaving the main thread alone', async () => {
    // Before the first thread starts (the dummy hash starts one with the Passwords).
    const before = niceByThread();
    const passwords = new Passwords({ ...CHEAP, concurrency: 2, maxWaiting: 8 });
    try {
      await Promise.all([passwords.hash('a', later()), passwords.hash('b', later())]);
      // The thread of the dummy hash, started with the Passwords, may still be starting.
      await passwords.verifyUnknown('c', later());
      const after = niceByThread();
      const lowered = [...after].filter(([tid, nice]) => !before.has(tid) && nice === 19);
      expect(lowered.length).toBeGreaterThanOrEqual(2); // one per thread, and the helpers each starts
      expect(after.get(process.pid)).toBe(before.get(process.pid) as number);
    } finally {
      passwords.close();
    }
  });

  // Issue 14, item 1: after a start, the logins of the users already in took
  // the cores from the nice-19 threads, and the last first logins of a herd
  // of right passwords waited seconds for their hash.
  it('should run strangers at normal priority while right passwords dominate, at the lowest once wrong ones are as many', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 8 });
    const stranger = { clientIp: '198.51.100.1', known: false };
    const mine = process.pid;
    const newThreadsAt = (before: Map<number, number>, nice: number) =>
      [...niceByThread()].filter(([tid, n]) => !before.has(tid) && n === nice).length;
    try {
      const hash = await passwords.hash('correct horse', later());
      expect(passwords.priority).toBe('low'); // no verdict yet
      const before = niceByThread();
      const ownNice = before.get(mine) as number;
      expect(await passwords.verify('correct horse', hash, later(), stranger)).toBe(true);
      expect(passwords.priority).toBe('normal');
      // The next stranger's verify starts a thread at the process's priority.
      expect(await passwords.verify('correct horse', hash, later(), stranger)).toBe(true);
      expect(newThreadsAt(before, ownNice)).toBeGreaterThanOrEqual(1);
      // A storm of wrong passwords: as many wrong as right sends it back to nice 19.
      expect(await passwords.verify('wrong', hash, later(), stranger)).toBe(false);
      expect(passwords.priority).toBe('normal'); // 2 right, 1 wrong
      await passwords.verifyUnknown('wrong again', later(), stranger);
      expect(passwords.priority).toBe('low'); // 2 right, 2 wrong
      // Only the latest 32 verdicts count: 32 wrong ones leave no right one.
      for (let i = 0; i < 32; i++) await passwords.verify(`wrong ${i}`, hash, later(), stranger);
      expect(await passwords.verify('correct horse', hash, later(), stranger)).toBe(true);
      expect(passwords.priority).toBe('low'); // 1 right, 31 wrong
    } finally {
      passwords.close();
    }
  });

  it('should run a known client at normal priority even during a storm of wrong passwords', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 8 });
    try {
      const hash = await passwords.hash('correct horse', later());
      await passwords.verify('wrong', hash, later());
      expect(passwords.priority).toBe('low');
      const before = niceByThread();
      const known = { clientIp: '198.51.100.2', known: true };
      expect(await passwords.verify('correct horse', hash, later(), known)).toBe(true);
      const own = before.get(process.pid) as number;
      const started = [...niceByThread()].filter(([tid, n]) => !before.has(tid) && n === own);
      expect(started.length).toBeGreaterThanOrEqual(1);
    } finally {
      passwords.close();
    }
  });

  // Issue 14, item 1: a fixed queue of 64 refused most of a herd of first
  // logins at once (and their clients came straight back), while hashes that
  // would end in time could have waited.
  it('should refuse a stranger whose hash would not end within half the time to its deadline, at the pace hashes run', async () => {
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 64 });
    const stranger = { clientIp: '198.51.100.1', known: false };
    try {
      const hash = await passwords.hash('correct horse', later());
      expect(passwords.hashMs).toBeGreaterThan(0);
      const pace = passwords.hashMs;
      // Nothing waiting: twice one hash's time is enough, less is not.
      expect(() => passwords.refuseIfFull(stranger, pace * 2.5)).not.toThrow();
      expect(() => passwords.refuseIfFull(stranger, pace * 1.5)).toThrow(
        'too many sign-ins at once',
      );
      // Ten of its own waiting behind one running: about eleven hashes' time, twice over.
      const queued = Array.from({ length: 11 }, () =>
        passwords.verify('x', hash, later(), stranger),
      );
      expect(passwords.queueDepth).toBe(10);
      const now = passwords.hashMs;
      expect(() => passwords.refuseIfFull(stranger, now * 12)).toThrow('too many sign-ins at once');
      expect(() => passwords.refuseIfFull(stranger, now * 24)).not.toThrow();
      // Another client waits about one turn (fair queue), not for the ten.
      expect(() =>
        passwords.refuseIfFull({ clientIp: '203.0.113.9', known: false }, now * 6),
      ).not.toThrow();
      // A known client is served first: the strangers' queue is not its wait.
      expect(() => passwords.refuseIfFull({ ...stranger, known: true }, 0)).not.toThrow();
      // Without a deadline, only the bound on the count applies.
      expect(() => passwords.refuseIfFull(stranger)).not.toThrow();
      await Promise.all(queued);
    } finally {
      passwords.close();
    }
  });

  // bench/tier-probes.ts meters the slow hashes by this name: at nice 19 alone
  // it would count nothing of a herd's hashes, which run at normal priority.
  it('should name every hash thread, low and normal priority alike', async () => {
    const named = () =>
      readdirSync('/proc/self/task').filter((tid) => {
        try {
          return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === HASH_THREAD_NAME;
        } catch {
          return false;
        }
      });
    const before = new Set(named());
    const passwords = new Passwords({ ...CHEAP, concurrency: 1, maxWaiting: 8 });
    try {
      const hash = await passwords.hash('correct horse', later());
      await passwords.verifyUnknown('x', later()); // the dummy's thread has started
      await passwords.verify('correct horse', hash, later(), { clientIp: '', known: true });
      const started = named().filter((tid) => !before.has(tid));
      const nice = niceByThread();
      expect(started.map((tid) => nice.get(Number(tid)) === 19).sort()).toEqual([false, true]);
    } finally {
      passwords.close();
    }
  });
});
