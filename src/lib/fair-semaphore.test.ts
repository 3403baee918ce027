import { describe, expect, it } from 'bun:test';
import { Deadline } from './deadline.ts';
import { type FairAcquired, FairSemaphore } from './fair-semaphore.ts';

const later = (ms = 10_000) => Deadline.after(ms);

/** Queues one waiter of `key` and records its name in `served` when it gets the permit. */
function queue(
  s: FairSemaphore,
  served: string[],
  key: string,
  name: string,
  urgent = false,
  deadline = later(),
): Promise<FairAcquired> {
  return Promise.resolve(s.acquire(deadline, key, urgent)).then((result) => {
    if (result === 'acquired') served.push(name);
    return result;
  });
}

/** Releases the permit `times` times, letting each waiter settle in between. */
async function serve(s: FairSemaphore, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    s.release();
    await Bun.sleep(0);
  }
}

describe('unit: FairSemaphore', () => {
  it('should grant permits at once up to the limit, and nobody waits while one is free', async () => {
    const s = new FairSemaphore(2, 10, 10);
    expect(s.acquire(later(), 'a')).toBe('acquired');
    expect(s.acquire(later(), 'a')).toBe('acquired');
    const served: string[] = [];
    const waiting = queue(s, served, 'a', 'a1');
    expect(s.waiting).toBe(1);
    s.release();
    expect(await waiting).toBe('acquired');
    expect(s.active).toBe(2);
    s.release();
    s.release();
    expect(s.active).toBe(0);
    expect(s.acquire(later(), 'b')).toBe('acquired');
  });

  it('should serve keys in turn, one waiter a turn, whatever order they queued in', async () => {
    const s = new FairSemaphore(1, 100, 100);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    const all: Promise<FairAcquired>[] = [];
    for (const key of ['a', 'b', 'c'])
      for (let i = 1; i <= 4; i++) all.push(queue(s, served, key, `${key}${i}`));
    await serve(s, 12);
    await Promise.all(all);
    expect(served).toEqual([
      'a1',
      'b1',
      'a2',
      'c1',
      'b2',
      'a3',
      'c2',
      'b3',
      'a4',
      'c3',
      'b4',
      'c4',
    ]);
  });

  // Issue 14, item 7: in first-come order, 16 busy addresses filled the queue
  // and a first login from a 17th waited behind all of their work, or was refused.
  it('should serve a key that had nothing waiting within two turns, however many keys keep queues', async () => {
    const s = new FairSemaphore(1, 128, 8);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    /** Queues waiters of `key` until refused. */
    const fill = (key: string) => {
      for (;;) {
        const result = s.acquire(later(), key);
        if (typeof result === 'string') return;
        void result.then((r) => r === 'acquired' && served.push(key));
      }
    };
    for (let k = 0; k < 16; k++) fill(`flood${k}`);
    await serve(s, 40); // every flooding key has had a turn: they are all backlogged
    for (let k = 0; k < 16; k++) fill(`flood${k}`);
    expect(s.waiting).toBe(128);
    // The queue is full, but a key with nothing waiting still finds room.
    const newcomer = queue(s, served, 'newcomer', 'newcomer');
    expect(s.waiting).toBe(128);
    await serve(s, 2);
    expect(await newcomer).toBe('acquired');
    expect(served.slice(-2)).toContain('newcomer');
  });

  it('should give backlogged keys every other turn while fresh keys keep arriving', async () => {
    const s = new FairSemaphore(1, 100, 100);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    for (let i = 1; i <= 3; i++) void queue(s, served, 'a', `a${i}`);
    await serve(s, 1); // 'a' had its fresh turn: backlogged now
    for (let i = 0; i < 4; i++) {
      void queue(s, served, `fresh${i}`, `fresh${i}`);
      await serve(s, 1);
    }
    expect(served).toEqual(['a1', 'fresh0', 'a2', 'fresh1', 'a3']);
  });

  it("should refuse a key's waiter beyond its own bound at once, while other keys still queue", async () => {
    const s = new FairSemaphore(1, 10, 2);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    void queue(s, served, 'a', 'a1');
    void queue(s, served, 'a', 'a2');
    expect(s.refusal('a', false)).toBe('key-busy');
    expect(s.acquire(later(), 'a')).toBe('key-busy');
    // The bound is per key and class: an urgent waiter of the same key has its own.
    expect(s.refusal('a', true)).toBeNull();
    expect(s.refusal('b', false)).toBeNull();
    void queue(s, served, 'b', 'b1');
    expect(s.waiting).toBe(3);
  });

  it('should keep the total bound by pushing out the newest waiter of the longest queue', async () => {
    const s = new FairSemaphore(1, 4, 4);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    const a = [1, 2, 3, 4].map((i) => queue(s, served, 'a', `a${i}`));
    // Full, and 'a' holds the longest queue: its own fifth is refused, nobody pushed out.
    expect(s.refusal('a', false)).toBe('busy');
    expect(s.acquire(later(), 'a')).toBe('busy');
    const b = queue(s, served, 'b', 'b1');
    expect(await a[3]).toBe('busy'); // the newest of 'a' made room
    expect(s.waiting).toBe(4);
    const c = queue(s, served, 'c', 'c1');
    expect(await a[2]).toBe('busy');
    // Now 'a' holds 2, 'b' and 'c' one each: a second of 'b' still takes the place of
    // the second of 'a', but a third would not be fairer, and is refused.
    const b2 = queue(s, served, 'b', 'b2');
    expect(await a[1]).toBe('busy');
    expect(s.acquire(later(), 'b')).toBe('busy');
    await serve(s, 4);
    expect(await Promise.all([a[0], b, c, b2])).toEqual([
      'acquired',
      'acquired',
      'acquired',
      'acquired',
    ]);
    expect(served).toEqual(['a1', 'b1', 'c1', 'b2']);
  });

  it('should serve urgent waiters first, and let them push out the others', async () => {
    const s = new FairSemaphore(1, 3, 3);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    const strangers = [1, 2, 3].map((i) => queue(s, served, `s${i}`, `s${i}`));
    const known = queue(s, served, 's1', 'known', true);
    expect(await strangers[0]).toBe('busy'); // each stranger key held one: the first's was taken
    await serve(s, 3);
    expect(await known).toBe('acquired');
    expect(served).toEqual(['known', 's2', 's3']);
  });

  it('should drop a waiter at its deadline or when its caller is gone, and forget its key', async () => {
    const s = new FairSemaphore(1, 10, 10);
    s.acquire(later(), 'holder');
    const served: string[] = [];
    const gone = later();
    const dropped = queue(s, served, 'a', 'dropped', false, gone);
    const late = queue(s, served, 'b', 'late', false, later(30));
    const stays = queue(s, served, 'c', 'stays');
    expect(s.waiting).toBe(3);
    gone.cancel();
    expect(await dropped).toBe('cancelled');
    expect(await late).toBe('timeout');
    expect(s.waiting).toBe(1);
    await serve(s, 1);
    expect(await stays).toBe('acquired');
    expect(served).toEqual(['stays']);
    // Cancelled or past already: never queued.
    const already = later();
    already.cancel();
    expect(s.acquire(already, 'd')).toBe('cancelled');
    expect(s.acquire(later(-1), 'd')).toBe('timeout');
    expect(s.waiting).toBe(0);
    // A key whose queue emptied is fresh again.
    const again = queue(s, served, 'a', 'a again');
    await serve(s, 1);
    expect(await again).toBe('acquired');
  });

  it('should answer busy at once with no queue at all', () => {
    const s = new FairSemaphore(1, 0, 0);
    expect(s.acquire(later(), 'a')).toBe('acquired');
    expect(s.acquire(later(), 'b')).toBe('busy');
  });

  // Passwords refuses a stranger whose hash would not end in time: that wait
  // is the turns ahead of it, not the whole queue.
  it('should count the waiters served before a newcomer: one turn of every key, the urgent first', async () => {
    const s = new FairSemaphore(1, 64);
    const served: string[] = [];
    expect(s.acquire(later(), 'holder')).toBe('acquired');
    expect(s.ahead('a', false)).toBe(0);
    const waiters = [
      ...Array.from({ length: 5 }, (_, i) => queue(s, served, 'a', `a${i}`)),
      ...Array.from({ length: 2 }, (_, i) => queue(s, served, 'b', `b${i}`)),
      queue(s, served, 'known', 'u0', true),
    ];
    // A new key: one turn of a and b, after the urgent one.
    expect(s.ahead('c', false)).toBe(3);
    // b's third: the urgent one, three of a's, b's own two.
    expect(s.ahead('b', false)).toBe(6);
    // a's sixth: everything.
    expect(s.ahead('a', false)).toBe(8);
    // An urgent newcomer waits only for the urgent.
    expect(s.ahead('other', true)).toBe(1);
    await serve(s, 9);
    expect(served).toEqual(['u0', 'a0', 'b0', 'a1', 'b1', 'a2', 'a3', 'a4']);
    await Promise.all(waiters);
    expect(s.ahead('a', false)).toBe(0);
  });
});
