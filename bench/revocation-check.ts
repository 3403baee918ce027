/**
 * The per-request session-revocation check (Revocations.isRevoked) against a
 * real Redis, for two versions of src/core/revocations.ts, alternating, so
 * that the noise of a shared machine falls on both alike.
 *
 *   mkdir -p /tmp/rv/before && git archive main src | tar -x -C /tmp/rv/before
 *   ln -s "$PWD/node_modules" /tmp/rv/before/node_modules
 *   bun bench/revocation-check.ts /tmp/rv/before/src/core/revocations.ts src/core/revocations.ts
 *
 * Options (after the paths): --rounds 9, --checks 3000 (per pattern and round),
 * --shards 1 (1 as on a single Redis, 16 as on a Redis Cluster),
 * REDIS_URL (default redis://127.0.0.1:6379; keys under a prefix of the run's own).
 * Two patterns: one check per turn of the event loop (a quiet server), and 32
 * checks begun in one turn (a busy one: every request of a socket read starts in
 * one). Per pattern it prints the median over rounds of the wall time and of the
 * process CPU time per check (the CPU is what a TCP server pays), and, exactly,
 * the Redis commands and the socket writes (round trips) per check.
 */
import net from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import type { CacheScript } from '../src/cache/port.ts';
import { createRedisCache } from '../src/cache/redis.ts';
import { Deadline } from '../src/lib/deadline.ts';
import { Semaphore } from '../src/lib/semaphore.ts';
import { silentLogger } from '../src/log.ts';
import type { RevokedRange, UserStore } from '../src/store/port.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '9' },
    checks: { type: 'string', default: '3000' },
    shards: { type: 'string', default: '1' },
  },
});
const rounds = Number(values.rounds);
const checks = Number(values.checks);
const shards = Number(values.shards);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
if (positionals.length === 0) throw new Error('give the paths of the revocations.ts to compare');

// Every write to a socket: with auto-pipelining, one per round trip to Redis.
let writes = 0;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  writes++;
  return (write as (...a: unknown[]) => boolean).apply(this, args);
} as typeof write;
let commands = 0;

interface Check {
  isRevoked(sessionId: string, nowMs: number, deadline: Deadline): Promise<boolean>;
}
interface Version {
  name: string;
  check: Check;
  prefix: string;
  close(): Promise<void>;
}

const ids = Array.from({ length: 256 }, () =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url'),
);
const revoked = ids
  .slice(0, 16)
  .map((sessionId) => ({ sessionId, expiresAtMs: Date.now() + 3_600_000 }));
// The store answers the mirror's load; a check that it answers found Redis failing (counted).
let storeChecks = 0;
const store = {
  // A page of a range as the stores read one; all at once for a version read without ranges.
  async listRevokedSessions(_nowMs: number, range?: RevokedRange) {
    if (range === undefined) return revoked;
    const { from, before, limit } = range;
    return revoked
      .filter((r) => r.sessionId >= from && (before === null || r.sessionId < before))
      .sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1))
      .slice(0, limit);
  },
  async isSessionRevoked() {
    storeChecks++;
    return false;
  },
} as unknown as UserStore;

async function load(path: string, n: number): Promise<Version> {
  const mod = (await import(resolve(path))) as {
    Revocations: new (...args: unknown[]) => Check;
    REVOCATION_SCRIPTS?: readonly CacheScript[];
  };
  const prefix = `bench:rv${n}:${crypto.randomUUID().slice(0, 8)}:`;
  const cache = createRedisCache(
    {
      url,
      clusterNodes: [],
      keyPrefix: prefix,
      commandTimeoutMs: 1000,
      scripts: mod.REVOCATION_SCRIPTS ?? [],
    },
    silentLogger,
  );
  const get = cache.get;
  cache.get = (key) => {
    commands++;
    return get(key);
  };
  // No offline queue: wait until the client is connected.
  while (!(await cache.set('probe', '1', 1000).catch(() => false))) await Bun.sleep(20);
  // A version without shards ignores the last argument.
  const check = new mod.Revocations(store, cache, new Semaphore(4, 4), silentLogger, shards);
  return { name: path, check, prefix, close: () => cache.close() };
}

async function oneAtATime(check: Check): Promise<void> {
  for (let i = 0; i < checks; i++)
    await check.isRevoked(ids[i % ids.length] as string, Date.now(), Deadline.after(1000));
}

async function batchesOf32(check: Check): Promise<void> {
  for (let i = 0; i < checks; i += 32) {
    const batch: Promise<boolean>[] = [];
    for (let j = 0; j < 32; j++)
      batch.push(
        check.isRevoked(ids[(i + j) % ids.length] as string, Date.now(), Deadline.after(1000)),
      );
    await Promise.all(batch);
  }
}

async function measure(run: (check: Check) => Promise<void>, check: Check) {
  writes = 0;
  commands = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run(check);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    wallUs: (wall * 1000) / checks,
    cpuUs: (used.user + used.system) / checks,
    commands: commands / checks,
    writes: writes / checks,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

const versions = await Promise.all(positionals.map((path, n) => load(path, n)));
const patterns = { 'one per turn': oneAtATime, '32 per turn': batchesOf32 } as const;
const samples = new Map<
  string,
  { wallUs: number[]; cpuUs: number[]; commands: number[]; writes: number[] }
>();
// Warm-up: loads the mirror and lets the JIT settle.
for (const v of versions) for (const run of Object.values(patterns)) await run(v.check);
for (let round = 0; round < rounds; round++) {
  // Alternate which version goes first.
  const order = round % 2 === 0 ? versions : [...versions].reverse();
  for (const v of order) {
    for (const [pattern, run] of Object.entries(patterns)) {
      const key = `${pattern}\t${v.name}`;
      const s = samples.get(key) ?? { wallUs: [], cpuUs: [], commands: [], writes: [] };
      const r = await measure(run, v.check);
      s.wallUs.push(r.wallUs);
      s.cpuUs.push(r.cpuUs);
      s.commands.push(r.commands);
      s.writes.push(r.writes);
      samples.set(key, s);
    }
  }
}
console.log(`medians of ${rounds} rounds, ${checks} checks each, per check`);
console.log('pattern\tversion\twall µs\tcpu µs\tGETs\tround trips');
for (const [key, s] of [...samples].sort()) {
  const row = [median(s.wallUs), median(s.cpuUs), median(s.commands), median(s.writes)];
  console.log(`${key}\t${row.map((x) => x.toFixed(x < 5 ? 3 : 1)).join('\t')}`);
}
if (storeChecks > 0) console.log(`${storeChecks} checks fell back to the store (Redis failed)`);
const redis = new Redis(url);
for (const v of versions) {
  const keys = await redis.keys(`${v.prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await v.close();
}
redis.disconnect();
