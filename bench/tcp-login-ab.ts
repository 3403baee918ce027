/**
 * The TCP server's login alone, A/B in one process: the services of several
 * source trees (checkouts of this repository, e.g. `git worktree add` of two
 * commits), each started with its own `startTcpApp` over an embedded SQLite
 * file and, with `--cache on`, the local Redis under a key prefix of its
 * own, answer the same repeated correct logins (the credential memo's fast
 * path: one user lookup, one throttle peek, one HMAC) by calling
 * `accounts.login` directly, in interleaved rounds. CPU time of this process
 * per login, median and best per tree. The trees share the process, its JIT
 * and the machine's load at each moment, as in bench/app-ab.ts.
 *
 *   bun bench/tcp-login-ab.ts [--rounds 12] [--requests 20000] [--users 100]
 *     [--concurrency 32] [--cache on|off] <tree> <tree> ...
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runAb } from './ab-rounds.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '12' },
    requests: { type: 'string', default: '20000' },
    users: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
    cache: { type: 'string', default: 'on' },
  },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const userCount = Number(values.users);
const concurrency = Number(values.concurrency);
const redisUrl = values.cache === 'on' ? (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : '';
if (positionals.length === 0) throw new Error('name at least one source tree');

const PASSWORD = 'a long bench password';
const usernames = Array.from({ length: userCount }, (_, i) => `abuser${i}`);

interface Subject {
  login(username: string): Promise<unknown>;
  stop(): Promise<void>;
}

/** The tree's own TCP services, started as its tests start them, with users logged in once. */
async function subjectOf(tree: string, index: number): Promise<Subject> {
  const root = resolve(tree);
  const { loadTcpConfig } = await import(`${root}/src/config/tcp-config.ts`);
  const { startTcpApp } = await import(`${root}/src/tcp/start.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const { Deadline } = await import(`${root}/src/lib/deadline.ts`);
  const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-tcp-ab-'));
  const config = loadTcpConfig({
    DATA_DIR: dataDir,
    TCP_PORT: '0',
    TCP_METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `bench-ab-${process.pid}-${index}:`,
    SESSION_SECRET: 'the bench secret of the A/B login run'.padEnd(48, '!'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    RATE_LIMIT_IP_PER_S: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
  });
  const app = await startTcpApp(config, silentLogger);
  const deadline = () => Deadline.after(10_000);
  for (const username of usernames) {
    await app.accounts.register({ username, password: PASSWORD, nickname: '' }, deadline(), 'ab');
  }
  // Sign-up leaves tombstones that keep the records out of the cache for a few seconds.
  await app.cache?.del(usernames.map((u) => `u:${u}`));
  const login = (username: string) =>
    app.accounts.login({ username, password: PASSWORD }, deadline(), 'ab');
  for (const username of usernames) await login(username); // the slow hash, once each
  return {
    login,
    async stop() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `n` logins, `concurrency` at a time. */
async function work(subject: Subject, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await subject.login(usernames[i % usernames.length] as string);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

await runAb({
  trees: positionals,
  start: subjectOf,
  work,
  rounds,
  requests,
  unit: 'login',
  header: { rounds, requests, users: userCount, concurrency, cache: values.cache },
});
