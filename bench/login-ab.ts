/**
 * What a login costs the TCP side, A/B in one process: the TCP services of
 * several source trees (each a checkout of this repository, e.g. `git
 * worktree add` of two commits), each over its own MariaDB database and its
 * own Redis key prefix, answer the same repeated correct logins (credential
 * memo warm, as in `npm run bench -- login`) through `Accounts.login`, 64 in
 * flight, in interleaved rounds. Per login, median and best over the rounds:
 * - this process's CPU (the services, ioredis, mysql2);
 * - the CPU of Redis and MariaDB, a private redis-server and mariadbd that
 *   this bench starts (so nothing else's work is counted; the mariadbd is
 *   the tests' one, made durable by nothing, so this is CPU, not fsync);
 * - Redis commands (INFO commandstats: a script's commands count too);
 * - MariaDB statements executed, rows written and rows deleted (SHOW GLOBAL
 *   STATUS: Com_stmt_execute, Handler_write + Handler_update, Handler_delete).
 * No HTTP and no RPC framing: those are the same in every tree (see
 * bench/app-ab.ts for the HTTP side).
 *
 *   bun bench/login-ab.ts [--rounds 10] [--logins 20000] [--users 200] <tree> <tree> ...
 *
 * Needs redis-server, mariadbd and mariadb-install-db on the PATH (as the
 * tests do); both servers and their data are removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';
import { startPrivateMariadb } from '../test/support/private-mariadb.ts';
import { startPrivateRedis } from '../test/support/redis.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '10' },
    logins: { type: 'string', default: '20000' },
    users: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '64' },
  },
});
const rounds = Number(values.rounds);
const logins = Number(values.logins);
const userCount = Number(values.users);
const concurrency = Number(values.concurrency);
if (positionals.length === 0) throw new Error('name at least one source tree');

const PASSWORD = 'a long bench passphrase';

/** CPU time (user + system) of a process in microseconds, from /proc (clock ticks of 10 ms). */
function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The newest process whose command line matches `pattern` (pgrep -f). */
function pidOf(pattern: string): number {
  const out = Bun.spawnSync(['pgrep', '-n', '-f', pattern]).stdout.toString().trim();
  if (out === '') throw new Error(`no process matches ${pattern}`);
  return Number(out);
}

/** MariaDB's counters of statements run and rows written, for their count per login. */
const MARIADB_COUNTERS = [
  'Com_stmt_execute',
  'Handler_write',
  'Handler_update',
  'Handler_delete',
] as const;
type MariadbCounts = Record<(typeof MARIADB_COUNTERS)[number], number>;

async function mariadbCounts(admin: mysql.Connection): Promise<MariadbCounts> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SHOW GLOBAL STATUS WHERE Variable_name IN (${MARIADB_COUNTERS.map((c) => `'${c}'`).join(', ')})`,
  );
  const counts = Object.fromEntries(MARIADB_COUNTERS.map((c) => [c, 0])) as MariadbCounts;
  for (const row of rows) counts[row.Variable_name as keyof MariadbCounts] = Number(row.Value);
  return counts;
}

async function redisCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/calls=(\d+)/g)) calls += Number(match[1]);
  return calls;
}

interface Tree {
  name: string;
  login(i: number): Promise<unknown>;
  stop(): Promise<void>;
}

async function treeOf(
  path: string,
  n: number,
  admin: mysql.Connection,
  adminUrl: string,
  redisUrl: string,
): Promise<Tree> {
  const root = resolve(path);
  const database = `usermgr_loginab_${n}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const prefix = `loginab:${n}:${randomBytes(4).toString('hex')}:`;
  const { loadTcpConfig } = await import(`${root}/src/config/tcp-config.ts`);
  const { startTcpApp } = await import(`${root}/src/tcp/start.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const { Deadline } = await import(`${root}/src/lib/deadline.ts`);
  const config = loadTcpConfig({
    LOG_LEVEL: 'silent',
    MYSQL_URL: url.toString(),
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    SESSION_SECRET: 'login-ab-bench-secret'.padEnd(48, '!'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    RATE_LIMIT_IP_PER_S: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    TCP_PORT: '0',
    TCP_METRICS_PORT: '0',
    DATA_DIR: `/tmp/usermgr-loginab-${n}`,
  });
  const app = await startTcpApp(config, silentLogger);
  const names = Array.from({ length: userCount }, (_, i) => `bench${i}`);
  for (const username of names) {
    await app.accounts.register(
      { username, password: PASSWORD, nickname: '' },
      Deadline.after(10_000),
      '127.0.0.1',
    );
  }
  const login = (i: number) =>
    app.accounts.login(
      {
        username: names[i % names.length],
        password: PASSWORD,
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      },
      Deadline.after(10_000),
      '127.0.0.1',
    );
  // Every user once (the slow hash, then the memo answers).
  for (let i = 0; i < names.length; i++) await login(i);
  return {
    name: path,
    login,
    async stop() {
      await app.stop();
      await admin.query(`DROP DATABASE ${database}`);
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${prefix}*`);
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      redis.disconnect();
    },
  };
}

interface Sample {
  selfUs: number;
  redisUs: number;
  mariadbUs: number;
  redisCommands: number;
  /** Statements executed by MariaDB, and rows inserted (or updated) and deleted. */
  statements: number;
  rowsWritten: number;
  rowsDeleted: number;
}

async function measure(
  tree: Tree,
  redis: Redis,
  admin: mysql.Connection,
  pids: { redis: number; mariadb: number },
) {
  let next = 0;
  const worker = async () => {
    while (next < logins) await tree.login(next++);
  };
  const commands = await redisCalls(redis);
  const counts = await mariadbCounts(admin);
  const redisCpu = processCpuMicros(pids.redis);
  const mariadbCpu = processCpuMicros(pids.mariadb);
  const self = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(self);
  // Batches still buffered belong to this round's logins.
  await Bun.sleep(300);
  const after = await mariadbCounts(admin);
  const sample: Sample = {
    selfUs: (used.user + used.system) / logins,
    redisUs: (processCpuMicros(pids.redis) - redisCpu) / logins,
    mariadbUs: (processCpuMicros(pids.mariadb) - mariadbCpu) / logins,
    // Less the INFO call itself.
    redisCommands: ((await redisCalls(redis)) - commands - 1) / logins,
    statements: (after.Com_stmt_execute - counts.Com_stmt_execute) / logins,
    rowsWritten:
      (after.Handler_write + after.Handler_update - counts.Handler_write - counts.Handler_update) /
      logins,
    rowsDeleted: (after.Handler_delete - counts.Handler_delete) / logins,
  };
  return sample;
}

const privateRedis = await startPrivateRedis();
const mariadb = await startPrivateMariadb('bench');
const adminUrl = mariadb.url.replace(/\/bench$/, '/');
const admin = await mysql.createConnection({ uri: adminUrl });
const redis = new Redis(privateRedis.url);
const pids = {
  // redis-server shows its address in place of its arguments.
  redis: pidOf(`redis-server .*:${privateRedis.port}`),
  mariadb: pidOf(`mariadbd .*--port=${mariadb.port}`),
};
const trees: Tree[] = [];
try {
  for (const [n, path] of positionals.entries())
    trees.push(await treeOf(path, n, admin, adminUrl, privateRedis.url));
  for (const tree of trees) await measure(tree, redis, admin, pids); // warm-up
  const samples = trees.map((): Sample[] => []);
  for (let round = 0; round < rounds; round++) {
    // Each round starts with another tree, so no tree always runs first.
    for (let k = 0; k < trees.length; k++) {
      const i = (round + k) % trees.length;
      samples[i]?.push(await measure(trees[i] as Tree, redis, admin, pids));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const best = (xs: number[]) => Math.min(...xs);
  const summary = trees.map((tree, i) => {
    const s = samples[i] ?? [];
    const of = (key: keyof Sample) => ({
      median: Number(median(s.map((x) => x[key])).toFixed(2)),
      best: Number(best(s.map((x) => x[key])).toFixed(2)),
    });
    return {
      tree: tree.name,
      self_us: of('selfUs'),
      redis_us: of('redisUs'),
      mariadb_us: of('mariadbUs'),
      redis_commands: of('redisCommands'),
      mariadb_statements: of('statements'),
      rows_written: of('rowsWritten'),
      rows_deleted: of('rowsDeleted'),
    };
  });
  for (const s of summary) {
    console.log(
      `${s.tree.padEnd(30)} this process ${s.self_us.median} µs (best ${s.self_us.best}), ` +
        `Redis ${s.redis_us.median} µs, MariaDB ${s.mariadb_us.median} µs, ` +
        `${s.redis_commands.median} Redis commands, ${s.mariadb_statements.median} MariaDB ` +
        `statements, ${s.rows_written.median} rows written and ${s.rows_deleted.median} ` +
        'deleted per login',
    );
  }
  console.log(JSON.stringify({ rounds, logins, users: userCount, concurrency, summary }));
} finally {
  for (const tree of trees) await tree.stop();
  await admin.end();
  redis.disconnect();
  await privateRedis.stop();
  await mariadb.stop();
}
