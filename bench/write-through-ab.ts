/**
 * The user cache alone, A/B in one process: each source tree's CachedUsers
 * over its own Redis adapter (the local Redis, a key prefix of its own),
 * given `--batch` nickname updates at a time whose store write answers at
 * once (as the MySQL group commit answers a statement's rows together), so
 * their write-throughs are made in one turn; or (`--op find`) as many cache
 * hits at a time (a login's or session check's user lookup). Interleaved
 * rounds; CPU time of this process per operation, median and best per tree.
 * The trees share the process, its JIT and the machine's load at each moment,
 * as in bench/tcp-login-ab.ts.
 *
 *   bun bench/write-through-ab.ts [--op update|find] [--batch 32] [--rounds 12]
 *     [--requests 20000] [--users 2000] <tree> <tree> ...
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { UserRow } from '../src/store/port.ts';
import { runAb } from './ab-rounds.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    op: { type: 'string', default: 'update' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '12' },
    requests: { type: 'string', default: '20000' },
    users: { type: 'string', default: '2000' },
  },
});
const op = values.op === 'find' ? 'find' : 'update';
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const userCount = Number(values.users);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
if (positionals.length === 0) throw new Error('name at least one source tree');

const HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM';
const users: UserRow[] = Array.from({ length: userCount }, (_, i) => ({
  id: String(254334705564223591n + BigInt(i)),
  username: `wtuser${i}`,
  nickname: `Nick ${i}`,
  passwordHash: HASH,
  picture: '',
  sessionsValidAfterMs: 0,
  createdAtMs: 1764720000000,
  updatedAtMs: 1764720000000,
  totpSecret: '',
  version: 1,
}));

interface Subject {
  run(first: number): Promise<unknown>;
  stop(): Promise<void>;
}

async function subjectOf(tree: string, index: number): Promise<Subject> {
  const root = resolve(tree);
  const { createRedisCache } = await import(`${root}/src/cache/redis.ts`);
  const { CachedUsers, USER_SCRIPTS } = await import(`${root}/src/core/cached-users.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const { Semaphore } = await import(`${root}/src/lib/semaphore.ts`);
  const { Deadline } = await import(`${root}/src/lib/deadline.ts`);
  const keyPrefix = `bench-wt-${process.pid}-${index}:`;
  const cache = createRedisCache(
    { url: redisUrl, clusterNodes: [], keyPrefix, commandTimeoutMs: 2000, scripts: USER_SCRIPTS },
    silentLogger,
  );
  const rows = new Map(users.map((user) => [user.username, { ...user }]));
  const store = {
    findByUsername: async (username: string) => rows.get(username) ?? null,
  };
  const cached = new CachedUsers(
    store,
    cache,
    new Semaphore(64, 1000),
    { ttlMs: 600_000, negativeTtlMs: 5000, tombstoneMs: 60_000 },
    silentLogger,
  );
  for (let tries = 0; ; tries++) {
    const up = await cache.get('warm').then(
      () => true,
      () => false,
    );
    if (up) break;
    if (tries > 100) throw new Error('Redis did not answer');
    await Bun.sleep(20);
  }
  let n = 0;
  const update = (user: UserRow) => {
    const seen = rows.get(user.username) as UserRow;
    return cached.update(seen, async (expected: UserRow) => {
      const row = {
        ...expected,
        nickname: `Nick ${n++}`,
        updatedAtMs: expected.updatedAtMs + 1,
        version: expected.version + 1,
      };
      rows.set(row.username, row);
      return row;
    });
  };
  const find = (user: UserRow) => cached.find(user.username, Deadline.after(10_000));
  // Every user cached once (a fill), so that finds hit.
  for (let i = 0; i < userCount; i += 100)
    await Promise.all(users.slice(i, i + 100).map((user) => find(user)));
  return {
    run(first) {
      const work: Promise<unknown>[] = [];
      for (let k = 0; k < batch; k++) {
        const user = users[(first + k) % userCount] as UserRow;
        work.push(op === 'update' ? update(user) : find(user));
      }
      return Promise.all(work);
    },
    async stop() {
      await cache.del(users.map((user) => `u:${user.username}`));
      await cache.close();
    },
  };
}

/** `n` operations, `batch` at a time. */
async function work(subject: Subject, n: number): Promise<void> {
  for (let done = 0; done < n; done += batch) await subject.run(done);
}

await runAb({
  trees: positionals,
  start: subjectOf,
  work,
  rounds,
  requests,
  unit: op,
  header: { op, batch, rounds, requests, users: userCount },
});
