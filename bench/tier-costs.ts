/**
 * `bun bench/tier-costs.ts [--runs 3] [--duration 10] [--users 20000] [--each 3000]
 *   [--signups 600] [--revoked 500000] [--seed 1000000] [--write bench/tier-costs.json]`
 *
 * What one request of each kind costs each tier: CPU microseconds of the
 * HTTP servers, the TCP server (its event loop apart from its slow-hash
 * threads), Redis and MariaDB, and the Redis commands and MariaDB statements
 * it makes. The figures behind docs/SCALING.md.
 *
 * Starts a private MariaDB (durable: redo log and binary log synced at each
 * commit, as a primary with replicas runs) and a private Redis, so that
 * their CPU and counters are this bench's alone, seeds `--seed` users with
 * bench/seed.ts, then the TCP server and the HTTP servers (one per core, up
 * to 4) as two kinds of processes. Each run measures, in turn:
 *   login, cached      wrk over --users users whose credential the memo and Redis hold
 *   profile read       wrk, GET /api/v1/me with their sessions
 *   login, cold        --each users never seen before: memo and Redis miss, a slow verify
 *   login, Redis miss  the same users again, their Redis records deleted: the memo answers
 *   logout             --each fresh sessions
 *   nickname update    --each PATCH /api/v1/me
 *   sign-up            --signups new users
 * and Redis's own CPU per GET from redis-benchmark at pipeline depths 1 and
 * 16. Last, the reload of the revoked-session mirror (its sentinel deleted, as
 * a Redis restart would) with 10,000, 20,000, 50,000, ... live revoked
 * sessions in the store, up to --revoked or the first reload that fails.
 * Logins and profile reads are sent by wrk at 1000 connections, as `npm run
 * bench` does; kinds whose every request must be new are sent by this
 * process, 16 at a time (the TCP server's MySQL pool), an exact number of them. Each window ends 250 ms
 * after the load, and its requests are those the TCP server counted in it.
 *
 * The server's argon2id is the cheapest allowed (m=1024, t=1): it runs on
 * the slow-hash threads, metered apart ("hash threads"), and the cost at the
 * production parameters is measured here in-process (CPU per verify). Counts
 * do not depend on the machine's load; CPU times do: the table gives medians
 * of --runs.
 *
 * Prints a line per kind and run, the sizes, then the table in Markdown and
 * one JSON object; `--write FILE` saves that object (bench/tier-costs.json is
 * what docs/SCALING.md is computed from: `bun bench/capacity.ts --write`).
 * With MYSQL_URL naming a database seeded with `npm run seed`, the bytes per
 * user row are read from it (information_schema; nothing is written there).
 */

import { heapStats } from 'bun:jsc';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { CredentialMemo } from '../src/core/credential-memo.ts';
import { guardProcesses } from '../test/support/orphans.ts';
import { startPrivateMariadb } from '../test/support/private-mariadb.ts';
import { freePort, startPrivateRedis } from '../test/support/redis.ts';
import {
  rssMb,
  type Server,
  startServer,
  stopServers,
  waitForPort,
  waitUntilReady,
} from './procs.ts';
import { loginRequest, openSessions, plan, warm } from './scenarios.ts';
import {
  KINDS,
  type Kind,
  type KindFigures,
  measuredTable,
  median,
  type Reload,
  runsTable,
  TIERS,
  type Tier,
  type TierCosts,
} from './tier-costs-data.ts';
import {
  type Counts,
  hashThreadsCpuS,
  mysqlCounters,
  perRequest,
  processCpuS,
  redisCommands,
  redisKeyBytes,
  redisMemory,
  scanKeys,
  tcpCounters,
} from './tier-probes.ts';
import { type BenchRequest, runWrk } from './wrk.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    users: { type: 'string', default: '20000' },
    each: { type: 'string', default: '3000' },
    signups: { type: 'string', default: '600' },
    revoked: { type: 'string', default: '500000' },
    seed: { type: 'string', default: '1000000' },
    connections: { type: 'string', default: '1000' },
    'http-processes': {
      type: 'string',
      default: String(Math.min(4, navigator.hardwareConcurrency || 1)),
    },
    write: { type: 'string', default: '' },
  },
});
const runs = Number(values.runs);
const durationS = Number(values.duration);
const warmUsers = Number(values.users);
const each = Number(values.each);
const signups = Number(values.signups);
const revokedRows = Number(values.revoked);
const seeded = Number(values.seed);
const connections = Number(values.connections);
/** As many as the TCP server's MySQL pool (MYSQL_POOL_SIZE): none waits for a connection. */
const CLOSED_LOOP = 16;
/** Longer than the cache tombstone a write leaves (max(5 s, 2 x MYSQL_QUERY_TIMEOUT_MS)). */
const SETTLE_MS = 7000;
const PASSWORD = 'tier costs bench passphrase';
if (warmUsers + runs * each > seeded)
  throw new Error(`--seed ${seeded} is too few for --users + --runs x --each cold logins`);

const git = (...args: string[]) =>
  new TextDecoder().decode(Bun.spawnSync(['git', ...args]).stdout).trim();
const commit = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src') ? '+changes' : ''}`;
const loadBefore = loadavg().map((x) => Math.round(x * 10) / 10);
const round1 = (x: number) => Math.round(x * 10) / 10;

// In-process figures first, before any server takes the cores.
const argon2 = argon2CpuMs(19_456, 2, 9);
const memoEntryBytes = memoBytesPerEntry(200_000);
console.log(
  `argon2id m=19456,t=2: ${argon2.map(round1).join(' / ')} ms of CPU per verify; credential memo ${memoEntryBytes} B per entry`,
);

const guard = guardProcesses('tier-costs');
const database = await startPrivateMariadb('usermgr_tiers', {
  serverOptions: [
    '--innodb-buffer-pool-size=1G',
    '--innodb-log-file-size=256M',
    '--innodb-flush-log-at-trx-commit=1',
    '--innodb-doublewrite=1',
    '--server-id=1',
    '--log-bin=tiers-bin',
    '--binlog-format=ROW',
    '--sync-binlog=1',
  ],
});
const redisServer = await startPrivateRedis(guard);
const cheapArgon2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
const servers: Server[] = [];
try {
  await seed();
  const [tcpPort, opsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    LOG_LEVEL: 'warn',
    MYSQL_URL: database.url,
    REDIS_URL: redisServer.url,
    REDIS_KEY_PREFIX: 'um:',
    ...cheapArgon2,
    // Each kind stays what it is for the whole bench: no memo entry or Redis
    // record expires in the middle of a run (the model applies the real TTLs).
    MEMO_TTL_S: '86400',
    CACHE_TTL_S: '86400',
    // Every simulated client shares this machine's address.
    RATE_LIMIT_IP_PER_S: '100000000',
    RATE_LIMIT_IP_BURST: '100000000',
    HASH_QUEUE_PER_ADDRESS: '100000',
    TCP_PORT: String(tcpPort),
    TCP_METRICS_PORT: String(opsPort),
    HTTP_PORT: String(httpPort),
    HTTP_METRICS_PORT: '0',
    HTTP_REUSE_PORT: String(Number(values['http-processes']) > 1),
    TCP_ADDRS: `127.0.0.1:${tcpPort}`,
  };
  const tcp = startServer('tcp', 'src/tcp/main.ts', env);
  servers.push(tcp);
  await waitForPort(tcpPort, servers);
  for (let i = 0; i < Number(values['http-processes']); i++)
    servers.push(startServer('http', 'src/http/main.ts', env));
  const url = `http://127.0.0.1:${httpPort}`;
  await waitUntilReady(`${url}/readyz`, servers);
  await waitUntilReady(`http://127.0.0.1:${opsPort}/readyz`, servers);

  const redis = redisServer.client();
  const sql = await mysql.createConnection({ uri: database.url });
  const metricsUrl = `http://127.0.0.1:${opsPort}/metrics`;
  const http = servers.filter((s) => s.name === 'http').map((s) => s.proc.pid);
  const redisPid = Number((await redis.info('server')).match(/^process_id:(\d+)/m)?.[1]);
  const [[mysqlPidRow]] = await sql.query<mysql.RowDataPacket[]>(
    `SELECT @@pid_file AS f, @@innodb_flush_log_at_trx_commit AS flush, @@sync_binlog AS sync,
            @@log_bin AS binlog, @@innodb_doublewrite AS dw, @@innodb_buffer_pool_size >> 20 AS pool`,
  );
  console.log(
    `private MariaDB: innodb_flush_log_at_trx_commit=${mysqlPidRow?.flush}, sync_binlog=${mysqlPidRow?.sync}, log_bin=${mysqlPidRow?.binlog}, doublewrite=${mysqlPidRow?.dw}, buffer pool ${mysqlPidRow?.pool} MiB`,
  );
  const mariadbPid = Number((await Bun.file(mysqlPidRow?.f as string).text()).trim());

  const users = Array.from({ length: warmUsers }, (_, i) => i + 1);
  const logins = (await plan('login', url, users, seeded)).requests;
  await warm(url, logins);

  /** CPU seconds so far of each tier's processes; `loadgen` is this process's own. */
  function cpuNow(): Record<Tier, number> {
    const hash = hashThreadsCpuS(tcp.proc.pid);
    const self = process.cpuUsage();
    return {
      http: http.reduce((s, pid) => s + processCpuS(pid), 0),
      tcp: processCpuS(tcp.proc.pid) - hash,
      argon2: hash,
      redis: processCpuS(redisPid),
      mariadb: processCpuS(mariadbPid),
      loadgen: (self.user + self.system) / 1e6,
    };
  }
  async function counters() {
    const [tcpCounts, redisCounts, mysqlCounts, memory] = await Promise.all([
      tcpCounters(metricsUrl),
      redisCommands(redis),
      mysqlCounters(sql),
      redisMemory(redis),
    ]);
    return { tcp: tcpCounts, redis: redisCounts, mysql: mysqlCounts, memory };
  }

  const figures = new Map<Kind, KindFigures & { raw: Counts[][] }>();
  /**
   * Runs `load` inside a window: counters read, CPU read, the load, 250 ms
   * for the answers in flight, CPU read, counters read. Reading the counters
   * costs the servers a little CPU, outside the window.
   */
  async function measure(
    kind: Kind,
    call: string,
    driver: string,
    load: () => Promise<{ wrkCpuS: number | null }>,
  ): Promise<void> {
    const before = await counters();
    const cpuBefore = cpuNow();
    const started = performance.now();
    const { wrkCpuS } = await load();
    await Bun.sleep(250);
    const cpuAfter = cpuNow();
    const windowS = (performance.now() - started) / 1000;
    const after = await counters();
    if (wrkCpuS !== null) cpuAfter.loadgen = cpuBefore.loadgen + wrkCpuS;
    const n = (after.tcp[`call:${call}`] ?? 0) - (before.tcp[`call:${call}`] ?? 0);
    const failed = (after.tcp[`fail:${call}`] ?? 0) - (before.tcp[`fail:${call}`] ?? 0);
    const f = figures.get(kind) ?? {
      driver,
      requests: [],
      failures: [],
      rps: [],
      cpuUs: Object.fromEntries(TIERS.map((t) => [t, []])) as unknown as Record<Tier, number[]>,
      redisCommands: {},
      mysqlCounters: {},
      tcpCounters: {},
      redisKeys: 0,
      redisBytes: 0,
      raw: [[], [], [], [], []],
    };
    f.requests.push(n);
    f.failures.push(failed);
    f.rps.push(Math.round(n / windowS));
    for (const tier of TIERS)
      f.cpuUs[tier].push(round1(((cpuAfter[tier] - cpuBefore[tier]) * 1e6) / n));
    const redisDelta = perRequest(before.redis, after.redis, n);
    // This bench's own commands.
    delete redisDelta.info;
    delete redisDelta.dbsize;
    f.raw[0]?.push(redisDelta);
    f.raw[1]?.push(perRequest(before.mysql, after.mysql, n));
    f.raw[2]?.push(perRequest(before.tcp, after.tcp, n));
    f.raw[3]?.push({ keys: (after.memory.keys - before.memory.keys) / n });
    f.raw[4]?.push({ bytes: (after.memory.usedBytes - before.memory.usedBytes) / n });
    figures.set(kind, f);
    console.log(
      `${kind}: ${n} requests (${failed} failed), ${f.rps.at(-1)} req/s; CPU µs per request ${TIERS.map((t) => `${t} ${f.cpuUs[t].at(-1)}`).join(', ')}`,
    );
    console.log(`  redis ${JSON.stringify(redisDelta)}`);
    console.log(`  mariadb ${JSON.stringify(f.raw[1]?.at(-1))}`);
    console.log(`  tcp ${JSON.stringify(f.raw[2]?.at(-1))}`);
  }

  const byWrk = (requests: BenchRequest[]) => async () => {
    const result = await runWrk({ url, connections, threads: 2, durationS, requests });
    return { wrkCpuS: result.cpu_s };
  };
  const wrkDriver = `wrk, ${connections} connections, ${durationS} s`;
  const loopDriver = (n: number) => `${n.toLocaleString('en-US')} requests, ${CLOSED_LOOP} at once`;

  const profiles = (await plan('profile', url, users, seeded)).requests;
  const bearer = (k: number) => (profiles[k % profiles.length] as BenchRequest).headers ?? {};
  const redisPerGet: { pipeline1: number[]; pipeline16: number[] } = {
    pipeline1: [],
    pipeline16: [],
  };

  const reloads: Reload[] = [];
  /**
   * Tops the store up to `target` live revoked sessions, empties the mirror's
   * sentinel (as a Redis restart would) and times the reload that a session
   * check then starts: every live revoked session read from the store into
   * the TCP server (a page at a time), and a SET of each into Redis. Not
   * loaded within 60 s counts as failed (the server keeps trying: nothing is
   * measured after it). Steps past 500,000 run only with a larger --revoked.
   */
  async function reloadMirror(target: number): Promise<Reload> {
    const now = Date.now();
    const count = async () => {
      const [[live]] = await sql.query<mysql.RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM revoked_sessions WHERE expires_at > ?',
        [now],
      );
      return Number(live?.n);
    };
    const [[last]] = await sql.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM revoked_sessions WHERE session_id LIKE 'tiercosts%'",
    );
    const missing = target - (await count());
    if (missing > 0) {
      const from = Number(last?.n) + 1;
      await sql.query(
        `INSERT INTO revoked_sessions (session_id, user_id, expires_at)
         SELECT CONCAT('tiercosts', LPAD(seq, 13, '0')), seq, ? FROM seq_${from}_to_${from + missing - 1}`,
        [now + 86_400_000],
      );
    }
    const rows = await count();
    const sentinel = 'um:rv:{s0}:loaded';
    await redis.del(sentinel);
    const rssBefore = rssMb(tcp.proc.pid);
    let rssPeak = rssBefore;
    const cpuBefore = cpuNow();
    const started = performance.now();
    void fetch(`${url}/api/v1/me`, { headers: bearer(0) }).then((res) => res.text());
    let ok = true;
    while ((await redis.get(sentinel)) !== '1') {
      rssPeak = Math.max(rssPeak, rssMb(tcp.proc.pid));
      if (performance.now() - started > 60_000) {
        ok = false;
        break;
      }
      await Bun.sleep(20);
    }
    const wallMs = Math.round(performance.now() - started);
    const cpuAfter = cpuNow();
    const perRow = (tier: Tier) =>
      Math.round(((cpuAfter[tier] - cpuBefore[tier]) * 1e7) / rows) / 10;
    const reload = {
      rows,
      ok,
      wallMs,
      tcpUsPerRow: perRow('tcp'),
      redisUsPerRow: perRow('redis'),
      mariadbUsPerRow: perRow('mariadb'),
      tcpBytesPerRow: Math.round(((rssPeak - rssBefore) * 2 ** 20) / rows),
      // Before, since the last step's memory may be kept by the allocator.
      tcpRssMb: [Math.round(rssBefore), Math.round(rssPeak)] as [number, number],
    };
    console.log(`revoked-session mirror reload: ${JSON.stringify(reload)}`);
    return reload;
  }
  for (let run = 0; run < runs; run++) {
    console.log(`\nrun ${run + 1} of ${runs} (load average ${loadavg().map(round1).join(' ')})`);
    await Bun.sleep(SETTLE_MS);
    // Every record back in Redis (the last run's writes removed some), then JIT.
    await warm(url, logins);
    await runWrk({ url, connections, threads: 2, durationS: 2, requests: logins });
    await measure('login-cached', 'login', wrkDriver, byWrk(logins));
    await measure('profile-read', 'getProfile', wrkDriver, byWrk(profiles));
    const fresh = Array.from({ length: each }, (_, i) => warmUsers + run * each + i + 1);
    await measure('login-cold', 'login', loopDriver(each), () =>
      closedLoop(url, fresh.map(loginRequest)),
    );
    // The same users again with their Redis records gone: the memo answers, the store is read.
    await Promise.all(fresh.map((i) => redis.del(`um:u:user${i}`)));
    await measure('login-refill', 'login', loopDriver(each), () =>
      closedLoop(url, fresh.map(loginRequest)),
    );
    const tokens = await openSessions(
      url,
      Array.from({ length: each }, (_, i) => users[i % users.length] as number),
    );
    const logouts = tokens.map(
      (token): BenchRequest => ({
        method: 'POST',
        path: '/api/v1/logout',
        headers: { Authorization: `Bearer ${token}` },
      }),
    );
    await measure('logout', 'logout', loopDriver(each), () => closedLoop(url, logouts));
    const nicknames = Array.from(
      { length: each },
      (_, k): BenchRequest => ({
        method: 'PATCH',
        path: '/api/v1/me',
        headers: { 'Content-Type': 'application/json', ...bearer(k) },
        body: JSON.stringify({ nickname: `Ünïcödé ${run}.${k} 🚀` }),
      }),
    );
    await measure('nickname-update', 'updateNickname', loopDriver(each), () =>
      closedLoop(url, nicknames),
    );
    const newUsers = Array.from(
      { length: signups },
      (_, i): BenchRequest => ({
        method: 'POST',
        path: '/open_api/v1/register',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: `tier${run}_${process.pid}_${i}`, password: PASSWORD }),
      }),
    );
    await measure('sign-up', 'register', loopDriver(signups), () => closedLoop(url, newUsers));
    for (const pipeline of [1, 16] as const) {
      const us = redisCpuPerGet(redisServer.port, redisPid, pipeline);
      redisPerGet[`pipeline${pipeline}`].push(us);
      console.log(`redis-benchmark GET, pipeline ${pipeline}: ${us} µs of Redis CPU per GET`);
    }
  }
  // Last: a reload that fails leaves the server retrying it.
  for (const target of [10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1e6, 2e6, 5e6]) {
    if (target > revokedRows) break;
    const reload = await reloadMirror(target);
    reloads.push(reload);
    if (!reload.ok) break;
  }
  const loadAfter = loadavg().map(round1);

  // Records of the last run's cold users (the warm users' may still be tombstones), and revoked sessions.
  const coldKeys = Array.from(
    { length: 200 },
    (_, i) => `um:u:user${warmUsers + (runs - 1) * each + i + 1}`,
  );
  const userKeyBytes = await redisKeyBytes(redis, coldKeys);
  const revokedKeys = (await scanKeys(redis, 'um:rv:*', 400)).filter((k) => !k.endsWith(':loaded'));
  const revocationKeyBytes = await redisKeyBytes(redis, revokedKeys.slice(0, 200));
  await sql.query('ANALYZE TABLE users, revoked_sessions');
  const mariadbUser = (await tableBytes(
    database.url,
    'users',
  )) as TierCosts['sizes']['mariadbUser'];
  const seededTable = process.env.MYSQL_URL
    ? await tableBytes(process.env.MYSQL_URL, 'users')
    : null;
  const mariadbRevocation = (await tableBytes(
    database.url,
    'revoked_sessions',
  )) as TierCosts['sizes']['mariadbRevocation'];
  await sql.end();

  const kinds = {} as Record<Kind, KindFigures>;
  for (const kind of KINDS) {
    const { raw, ...f } = figures.get(kind) as KindFigures & { raw: Counts[][] };
    const medians = (list: Counts[] = []) => {
      const keys = new Set(list.flatMap((c) => Object.keys(c)));
      return Object.fromEntries([...keys].map((k) => [k, median(list.map((c) => c[k] ?? 0))]));
    };
    kinds[kind] = {
      ...f,
      redisCommands: medians(raw[0]),
      mysqlCounters: medians(raw[1]),
      tcpCounters: medians(raw[2]),
      redisKeys: round1(medians(raw[3]).keys ?? 0),
      redisBytes: Math.round(medians(raw[4]).bytes ?? 0),
    };
  }
  const result: TierCosts = {
    commit,
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    command: `bun bench/tier-costs.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cores: cpus().length, loadBefore, loadAfter },
    runs,
    seededUsers: seeded,
    kinds,
    sizes: {
      redisUserKeyBytes: userKeyBytes,
      redisRevocationKeyBytes: revocationKeyBytes,
      mariadbUser: seededTable ?? mariadbUser,
      mariadbRevocation,
      memoEntryBytes,
    },
    argon2: { params: 'm=19456,t=2,p=1', cpuMsPerVerify: argon2.map(round1) },
    redisPerGet,
    reloads,
  };
  console.log(
    `\nRedis (MEMORY USAGE, mean of 200 keys): a cached user ${userKeyBytes} B, a revoked session ${revocationKeyBytes} B`,
  );
  console.log(
    `MariaDB here: ${JSON.stringify(mariadbUser)}; revoked_sessions ${JSON.stringify(mariadbRevocation)}`,
  );
  if (seededTable) console.log(`MariaDB at MYSQL_URL: ${JSON.stringify(seededTable)}`);
  console.log(`\nmedians of ${runs} runs, commit ${commit}, ${result.date} UTC\n`);
  console.log(measuredTable(result));
  console.log(`\nevery run:\n\n${runsTable(result)}`);
  console.log(JSON.stringify(result));
  if (values.write) {
    writeFileSync(values.write, `${JSON.stringify(result, null, 2)}\n`);
    // In the formatter's layout, so that `npm run check` takes the file as written.
    Bun.spawnSync([
      `${import.meta.dir}/../node_modules/.bin/biome`,
      'format',
      '--write',
      values.write,
    ]);
  }
} finally {
  await stopServers(servers);
  await redisServer.stop();
  await database.stop();
  guard.release();
}

/** Seeds the private database with bench/seed.ts (cheap hashes: they are verified on the hash threads). */
async function seed(): Promise<void> {
  const proc = Bun.spawn(
    [
      process.execPath,
      `${import.meta.dir}/seed.ts`,
      '--users',
      String(seeded),
      '--buffer-pool-mib',
      '1024',
    ],
    {
      env: { ...process.env, ...cheapArgon2, MYSQL_URL: database.url },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  guard.track(proc.pid);
  if ((await proc.exited) !== 0) throw new Error(`seeding failed (exit ${proc.exitCode})`);
  guard.untrack(proc.pid);
}

/** Sends every request once, CLOSED_LOOP at a time; fails on any non-2xx (scenarios.ts). */
async function closedLoop(url: string, requests: BenchRequest[]): Promise<{ wrkCpuS: null }> {
  await warm(url, requests, CLOSED_LOOP);
  return { wrkCpuS: null };
}

/**
 * Redis CPU microseconds per GET of a 200-byte value, from redis-benchmark
 * (50 clients, 200,000 GETs over 100,000 keys) at this pipeline depth: what
 * one Redis core serves when its clients batch commands, or do not.
 */
function redisCpuPerGet(port: number, pid: number, pipeline: number): number {
  const bench = (test: string) => {
    const args = ['-p', String(port), '-c', '50', '-n', '200000', '-r', '100000', '-d', '200'];
    const proc = Bun.spawnSync([
      'redis-benchmark',
      ...args,
      '-P',
      String(pipeline),
      '-t',
      test,
      '-q',
    ]);
    if (proc.exitCode !== 0) throw new Error(`redis-benchmark failed: ${proc.stderr.toString()}`);
  };
  bench('set');
  const before = processCpuS(pid);
  bench('get');
  return round1(((processCpuS(pid) - before) * 1e6) / 200_000);
}

/** InnoDB bytes per row of `table` in the database of `uri` (statistics: estimates). */
async function tableBytes(uri: string, table: string) {
  const connection = await mysql.createConnection({ uri });
  try {
    const [[row]] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT table_schema AS db, data_length AS data, index_length AS idx,
              (SELECT COUNT(*) FROM \`${table}\`) AS n
         FROM information_schema.TABLES WHERE table_schema = DATABASE() AND table_name = ?`,
      [table],
    );
    if (!row) return null;
    const rows = Number(row.n);
    return {
      source: `${row.db}.${table}`,
      rows,
      dataBytes: rows ? Math.round(Number(row.data) / rows) : 0,
      indexBytes: rows ? Math.round(Number(row.idx) / rows) : 0,
    };
  } finally {
    await connection.end();
  }
}

/** CPU milliseconds per argon2id verify at these parameters, `n` times, on this thread. */
function argon2CpuMs(memoryCost: number, timeCost: number, n: number): number[] {
  const hash = Bun.password.hashSync('Passw0rd-1', { algorithm: 'argon2id', memoryCost, timeCost });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = process.cpuUsage();
    Bun.password.verifySync('Passw0rd-1', hash);
    const used = process.cpuUsage(before);
    out.push((used.user + used.system) / 1000);
  }
  return out;
}

/** JavaScript heap bytes per credential-memo entry, from `n` entries. */
function memoBytesPerEntry(n: number): number {
  const memo = new CredentialMemo({ ttlMs: 600_000, maxEntries: n });
  Bun.gc(true);
  const before = heapStats().heapSize;
  for (let i = 0; i < n; i++)
    memo.remember(
      memo.key(
        String(250558285122371584n + BigInt(i)),
        '$argon2id$v=19$m=19456,t=2,p=1$salt$hash',
        `Passw0rd-${i}`,
      ),
    );
  Bun.gc(true);
  const bytes = Math.round((heapStats().heapSize - before) / n);
  if (memo.size !== n) throw new Error('the memo dropped entries');
  return bytes;
}
