/**
 * The throttle rules as one table of cases, run against the Lua scripts on a
 * real Redis and against the local store: both must give the same replies
 * and leave values that peek reads the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { Cache } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { LocalCounts } from '../src/core/rate-limits-local.ts';
import {
  BUCKET_MERGE,
  BUCKET_TAKE,
  Outcome,
  parseUser,
  RULES,
  type Rule,
  USER_ADMIT,
  USER_MERGE,
  USER_SETTLE,
  userWait,
} from '../src/core/rate-limits-rules.ts';
import { silentLogger } from '../src/log.ts';
import { requireRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis.ts';

const LIMIT = 3;
const BASE = 1000;
const WINDOW = 60_000;
const HOLD = 5000;
const RATE = 0.002; // per ms: 2 per second
const BURST = 4;

type Step =
  | { at: number }
  | { admit: number[] }
  | { fail: number[]; release?: 0 | 1 }
  | { succeed: number[]; release?: 0 | 1 }
  | { abandon: number[] }
  | { merge: [failures: number, at: number]; reply: number[] }
  | { take: number[] }
  | { bucketMerge: [tokens: number, last: number] }
  | { peek: { failures: number; waitMs: number } }
  | { gone: true };

interface Case {
  name: string;
  /** The base delay (BASE unless given); a device's count runs with base = window. */
  baseMs?: number;
  steps: Step[];
}

const admits = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i): Step => ({ admit: [1, from + i] }));
const failsOnce = (n: number): Step[] =>
  Array.from({ length: n }, (_, i) => [{ admit: [1, i + 1] }, { fail: [i + 1, 0] }]).flat();

const CASES: Case[] = [
  {
    name: 'admits the limit in flight, then refuses for the base delay',
    steps: [...admits(3), { admit: [0, 1000] }, { peek: { failures: 0, waitMs: 1000 } }],
  },
  {
    name: 'doubles the delay with every attempt beyond the limit',
    steps: [
      ...failsOnce(3),
      { admit: [0, 1000] },
      { at: 1000 },
      { admit: [1, 4] },
      { fail: [4, 0] },
      { admit: [0, 2000] },
      { at: 3000 },
      { admit: [1, 5] },
      { fail: [5, 0] },
      { admit: [0, 4000] },
      { peek: { failures: 5, waitMs: 4000 } },
    ],
  },
  {
    name: 'counts nothing for a success, and keeps no key',
    steps: [
      ...Array.from({ length: 5 }, (): Step[] => [{ admit: [1, 1] }, { succeed: [0, 0] }]).flat(),
      { gone: true },
    ],
  },
  {
    name: 'resets the failures on a success, keeping the others in flight',
    steps: [
      ...failsOnce(2),
      { admit: [1, 3] },
      { admit: [0, 1000] },
      { succeed: [0, 0] },
      { gone: true },
      ...admits(2),
      { succeed: [0, 1] },
      { admit: [1, 2] },
      { admit: [1, 3] },
      { admit: [0, 1000] },
    ],
  },
  {
    name: 'lets an attempt without a verdict leave without counting',
    steps: [
      ...admits(3),
      { abandon: [0, 2] },
      { abandon: [0, 1] },
      { abandon: [0, 0] },
      { gone: true },
    ],
  },
  {
    name: 'counts a verdict admitted elsewhere without releasing anyone here',
    steps: [{ admit: [1, 1] }, { fail: [1, 1], release: 0 }, { succeed: [0, 1], release: 0 }],
  },
  {
    name: 'lets attempts in flight lapse after their hold',
    // Had they stayed, this would be the 4th attempt counted.
    steps: [...admits(3), { at: HOLD }, { admit: [1, 1] }],
  },
  {
    name: 'forgets failures a window after the last one',
    steps: [
      ...failsOnce(3),
      { at: WINDOW - 1 },
      { peek: { failures: 3, waitMs: 0 } },
      { at: WINDOW },
      { peek: { failures: 0, waitMs: 0 } },
      { admit: [1, 1] },
    ],
  },
  {
    name: 'adds failures counted elsewhere, and ignores expired ones',
    steps: [
      ...failsOnce(2),
      { merge: [3, 0], reply: [5] },
      { admit: [0, 4000] },
      { merge: [7, -WINDOW], reply: [5] },
      { peek: { failures: 5, waitMs: 4000 } },
    ],
  },
  {
    name: 'locks a device for the whole window at its limit (base = window), then forgets',
    baseMs: WINDOW,
    steps: [
      ...failsOnce(3),
      { admit: [0, WINDOW] },
      { peek: { failures: 3, waitMs: WINDOW } },
      { at: WINDOW - 1 },
      { admit: [0, 1] },
      { at: WINDOW },
      { peek: { failures: 0, waitMs: 0 } },
      { admit: [1, 1] },
    ],
  },
  {
    name: 'spends the burst of a bucket, then refills at its rate',
    steps: [
      ...Array.from({ length: 4 }, (): Step => ({ take: [1, 0] })),
      { take: [0, 500] },
      { at: 500 },
      { take: [1, 0] },
      { take: [0, 500] },
    ],
  },
  {
    // TCP servers' clocks differ: one 10 s behind the last writer's waits the delay, not the
    // delay and the gap, and writes no earlier time than the last (which handed the server
    // ahead the gap as time served).
    name: 'waits no longer and moves no time back for a clock behind the last writer',
    steps: [
      { at: 10_000 },
      ...failsOnce(3),
      { admit: [0, 1000] },
      { at: 0 },
      { admit: [0, 1000] },
      { peek: { failures: 3, waitMs: 1000 } },
      { at: 11_000 },
      { admit: [1, 4] },
      { at: 1_000 },
      { fail: [4, 0] },
      { at: 11_000 },
      { admit: [0, 2000] },
    ],
  },
  {
    // TCP servers' clocks differ: one behind the last writer's neither owes tokens for the
    // gap (it answered 429 to an address with a nearly full bucket) nor moves the time back
    // (which gave the server ahead the gap again as tokens).
    name: 'neither takes nor gives tokens for a clock behind the last writer',
    steps: [
      { at: 1000 },
      { take: [1, 0] },
      { at: 0 },
      { take: [1, 0] },
      { take: [1, 0] },
      { take: [1, 0] },
      { take: [0, 500] },
      { at: 1000 },
      { take: [0, 500] },
    ],
  },
  {
    name: 'keeps the emptier of two buckets',
    steps: [
      { take: [1, 0] },
      { bucketMerge: [0.5, 0] },
      { take: [0, 250] },
      { at: 250 },
      { take: [1, 0] },
    ],
  },
];

/** Where a case runs: the rules on Redis, or in this process. */
interface Store {
  eval(rule: Rule, key: string, args: number[]): Promise<number[]>;
  get(key: string): Promise<string | undefined>;
}

const T0 = 1_800_000_000_000;

async function play(store: Store, key: string, steps: Step[], base = BASE): Promise<void> {
  let now = T0;
  const user = (rule: Rule, args: number[]) => store.eval(rule, key, [now, ...args]);
  const settle = (outcome: number, release: 0 | 1 = 1) =>
    user(USER_SETTLE, [outcome, release, WINDOW, LIMIT]);
  for (const [i, step] of steps.entries()) {
    const where = `step ${i}: ${JSON.stringify(step)}`;
    if ('at' in step) now = T0 + step.at;
    else if ('admit' in step)
      expect([where, await user(USER_ADMIT, [LIMIT, base, WINDOW, HOLD])]).toEqual([
        where,
        step.admit,
      ]);
    else if ('fail' in step)
      expect([where, await settle(Outcome.failure, step.release)]).toEqual([where, step.fail]);
    else if ('succeed' in step)
      expect([where, await settle(Outcome.success, step.release)]).toEqual([where, step.succeed]);
    else if ('abandon' in step)
      expect([where, await settle(Outcome.abandoned)]).toEqual([where, step.abandon]);
    else if ('merge' in step) {
      const [failures, at] = step.merge;
      expect([where, await user(USER_MERGE, [failures, now + at, WINDOW, LIMIT])]).toEqual([
        where,
        step.reply,
      ]);
    } else if ('take' in step)
      expect([where, await user(BUCKET_TAKE, [RATE, BURST])]).toEqual([where, step.take]);
    else if ('bucketMerge' in step) {
      const [tokens, last] = step.bucketMerge;
      await user(BUCKET_MERGE, [RATE, BURST, tokens, now + last]);
    } else if ('peek' in step) {
      const count = parseUser(await store.get(key), now, WINDOW);
      const waitMs = userWait(count, now, { limit: LIMIT, baseMs: base, windowMs: WINDOW });
      expect([where, { failures: count.failures, waitMs }]).toEqual([where, step.peek]);
    } else expect([where, await store.get(key)]).toEqual([where, undefined]);
  }
}

let cache: Cache;
let prefix: string;
beforeAll(async () => {
  prefix = uniquePrefix();
  cache = createRedisCache(
    {
      url: await requireRedis(TEST_REDIS_URL),
      clusterNodes: [],
      keyPrefix: prefix,
      commandTimeoutMs: 2000,
      scripts: RULES.map((rule) => rule.script),
    },
    silentLogger,
  );
  // Commands fail until the connection is up (no offline queue).
  for (let i = 0; i < 100 && !(await cache.set('probe', 'x', 1000).catch(() => false)); i++)
    await Bun.sleep(20);
});
afterAll(async () => {
  await cache?.close();
});

const stores: Record<string, () => Store> = {
  'Lua on Redis': () => ({
    eval: (rule, key, args) => cache.eval(rule.script, key, args),
    get: async (key) => (await cache.get(key))?.toString(),
  }),
  'local store': () => {
    const local = new LocalCounts(1000, () => T0);
    return {
      eval: async (rule, key, args) => local.eval(rule, key, args),
      get: async (key) => local.get(key),
    };
  },
};

describe('integration: the throttle rules, one table for Redis and for the local store', () => {
  for (const [storeName, makeStore] of Object.entries(stores)) {
    for (const [n, c] of CASES.entries()) {
      it(`${storeName}: ${c.name}`, async () => {
        await play(makeStore(), `rl:case:${n}:${crypto.randomUUID()}`, c.steps, c.baseMs);
      });
    }
  }
});
