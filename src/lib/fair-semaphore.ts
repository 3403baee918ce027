/**
 * A semaphore whose waiters are served fairly across keys (client addresses,
 * for the slow hashes): a few keys offering more work than the permits can
 * do fill their own queues, not everyone's. Waiters are in two classes,
 * urgent (served first) and the rest. Invariants:
 * - at most `permits` holders at once; a permit that frees up goes straight
 *   to the next waiter, and nobody waits while a permit is free;
 * - at most `maxWaitingPerKey` waiters per key and class: beyond, acquire()
 *   answers 'key-busy' at once. At most `maxWaiting` in all: at that bound a
 *   newcomer takes the place of the newest waiter of the longest queue, when
 *   that queue is longer than the newcomer's own (or, for an urgent
 *   newcomer, of any other class), and that waiter gets 'busy'; else the
 *   newcomer gets 'busy' at once. So the total bound holds and a key that
 *   has nothing waiting always finds room while one key holds more than one;
 * - urgent waiters are served before the others; within a class keys take
 *   turns, one waiter a turn. A key with nothing waiting joins as "fresh";
 *   once served it goes to the "backlogged" rotation if it still has
 *   waiters. Fresh and backlogged keys alternate, so a key that just arrived
 *   waits about one turn however many keys keep queues (the sparse-flow rule
 *   of FQ-CoDel, RFC 8290), while a stream of fresh keys cannot starve the
 *   backlogged ones;
 * - a waiter leaves at once when its deadline passes ('timeout') or is
 *   cancelled ('cancelled'), and one already cancelled never queues: the
 *   queues hold only work somebody still waits for, and a key's queue is
 *   forgotten as soon as it is empty (memory follows the waiters, not the
 *   number of keys ever seen);
 * - every 'acquired' is paired with exactly one release().
 */
import type { Deadline } from './deadline.ts';

/** 'busy': the total bound; 'key-busy': the key's own bound. */
export type FairAcquired = 'acquired' | 'busy' | 'key-busy' | 'timeout' | 'cancelled';

interface Waiter {
  lane: Lane;
  settle: (result: FairAcquired) => void;
}

/** One key's waiters in one class. */
interface Lane {
  key: string;
  waiters: Waiter[];
  fresh: boolean;
  rotation: Rotation;
}

/** The keys of one class taking turns. */
class Rotation {
  /** Every key with waiters; each is in exactly one of `fresh` and `backlogged`. */
  readonly lanes = new Map<string, Lane>();
  /** Turns in insertion order (a Map re-inserted at the end is a queue). */
  private readonly fresh = new Map<string, Lane>();
  private readonly backlogged = new Map<string, Lane>();
  private freshTurn = true;

  add(key: string, settle: Waiter['settle']): Waiter {
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = { key, waiters: [], fresh: true, rotation: this };
      this.lanes.set(key, lane);
      this.fresh.set(key, lane);
    }
    const waiter: Waiter = { lane, settle };
    lane.waiters.push(waiter);
    return waiter;
  }

  /** Takes the next waiter in turn out of the queue. */
  next(): Waiter | undefined {
    const useFresh = this.fresh.size > 0 && (this.freshTurn || this.backlogged.size === 0);
    const turns = useFresh ? this.fresh : this.backlogged;
    const lane = turns.values().next().value;
    if (lane === undefined) return undefined;
    // A fresh turn owes the backlogged keys one only when one of them was waiting for it.
    this.freshTurn = !useFresh || this.backlogged.size === 0;
    turns.delete(lane.key);
    const waiter = lane.waiters.shift();
    if (lane.waiters.length === 0) this.lanes.delete(lane.key);
    else {
      lane.fresh = false;
      this.backlogged.set(lane.key, lane); // to the end of the rotation
    }
    return waiter;
  }

  remove(waiter: Waiter): boolean {
    const lane = waiter.lane;
    const at = lane.waiters.indexOf(waiter);
    if (at < 0) return false;
    lane.waiters.splice(at, 1);
    if (lane.waiters.length === 0) {
      this.lanes.delete(lane.key);
      (lane.fresh ? this.fresh : this.backlogged).delete(lane.key);
    }
    return true;
  }

  /** The lane with the most waiters, if it has more than `than`. */
  longest(than: number): Lane | undefined {
    let found: Lane | undefined;
    for (const lane of this.lanes.values())
      if (lane.waiters.length > (found?.waiters.length ?? than)) found = lane;
    return found;
  }
}

export class FairSemaphore {
  private inUse = 0;
  private count = 0;
  /** [urgent, the rest]. */
  private readonly classes = [new Rotation(), new Rotation()] as const;

  constructor(
    readonly permits: number,
    readonly maxWaiting: number,
    readonly maxWaitingPerKey: number = maxWaiting,
  ) {}

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.count;
  }

  /**
   * How many waiters would be served before a newcomer of `key` in this
   * class, at most: the other class's first, if urgent, then up to one more
   * than the key already has waiting from each key of its own class (keys
   * take turns). A key with nothing waiting counts one turn of every key.
   */
  ahead(key: string, urgent: boolean): number {
    const [first, rest] = this.classes;
    const rotation = urgent ? first : rest;
    const turns = (rotation.lanes.get(key)?.waiters.length ?? 0) + 1;
    let ahead = 0;
    if (!urgent) for (const lane of first.lanes.values()) ahead += lane.waiters.length;
    for (const lane of rotation.lanes.values()) ahead += Math.min(lane.waiters.length, turns);
    return ahead;
  }

  /** What acquire() would refuse at once now, for this key and class; null when it would not. */
  refusal(key: string, urgent: boolean): 'busy' | 'key-busy' | null {
    if (this.inUse < this.permits && this.count === 0) return null;
    if (this.count >= this.maxWaiting && this.pushedOut(key, urgent) === undefined) return 'busy';
    const own = this.rotation(urgent).lanes.get(key)?.waiters.length ?? 0;
    return own >= this.maxWaitingPerKey ? 'key-busy' : null;
  }

  /** Waits for a permit, in `key`'s turn, until `deadline` passes or is cancelled. */
  acquire(deadline: Deadline, key: string, urgent = false): Promise<FairAcquired> | FairAcquired {
    if (deadline.cancelled) return 'cancelled';
    if (this.inUse < this.permits && this.count === 0) {
      this.inUse++;
      return 'acquired';
    }
    const refused = this.refusal(key, urgent);
    if (refused !== null) return refused;
    const wait = deadline.remainingMs();
    if (wait <= 0) return 'timeout';
    if (this.count >= this.maxWaiting) {
      const victim = this.pushedOut(key, urgent) as Waiter;
      this.leave(victim, 'busy');
    }
    return new Promise<FairAcquired>((resolve) => {
      const signal = deadline.signal;
      const onAbort = () => this.leave(waiter, 'cancelled');
      const timer = setTimeout(() => this.leave(waiter, 'timeout'), wait);
      const waiter = this.rotation(urgent).add(key, (result) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      });
      this.count++;
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.classes[0].next() ?? this.classes[1].next();
    if (next === undefined) {
      this.inUse--;
      return;
    }
    this.count--;
    next.settle('acquired'); // The permit passes straight to the next waiter.
  }

  private rotation(urgent: boolean): Rotation {
    return this.classes[urgent ? 0 : 1];
  }

  /** The waiter a newcomer would push out of a full queue, if any. */
  private pushedOut(key: string, urgent: boolean): Waiter | undefined {
    const [first, rest] = this.classes;
    const own = this.rotation(urgent).lanes.get(key)?.waiters.length ?? 0;
    const lane = urgent ? (rest.longest(0) ?? first.longest(own)) : rest.longest(own);
    return lane?.waiters.at(-1);
  }

  private leave(waiter: Waiter, result: FairAcquired): void {
    if (waiter.lane.rotation.remove(waiter)) this.count--;
    waiter.settle(result);
  }
}
