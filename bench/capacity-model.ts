/**
 * The capacity model of docs/SCALING.md: from the figures bench/tier-costs.ts
 * measured (bench/tier-costs.json) and the assumptions below, what each tier
 * needs at a given rate of logins. Pure functions: bench/capacity.ts writes
 * their Markdown into the document, and test/scaling-doc.test.ts checks that
 * the document still says what they compute.
 *
 * References in the tables: [M…] is a measured figure (bench/RESULTS.md), [A…]
 * an assumption (listed with its value by assumptionsTable()).
 */
import {
  KIND_NAMES,
  KINDS,
  type Kind,
  type KindFigures,
  median,
  type TierCosts,
} from './tier-costs-data.ts';

export const ASSUMPTIONS = {
  users: 100_000_000,
  loginRates: [100_000, 1_000_000],
  perLogin: { 'profile-read': 1, logout: 0.1, 'nickname-update': 0.01, 'sign-up': 0.0001 },
  utilisation: 0.65,
  machineCores: 16,
  kernelShare: 0.06,
  cacheTtlS: 300,
  memoTtlS: 600,
  sessionTtlS: 86_400,
  revokedLifeShare: 0.5,
  redisShardGB: 25,
  primaryCores: 64,
  mysqlPoolSize: 16,
  revocationShards: 16,
};
type Assumptions = typeof ASSUMPTIONS;

/** The assumptions, each with the reference the tables use. */
export function assumptionsTable(a: Assumptions = ASSUMPTIONS): string {
  const rows: [string, string][] = [
    ['A1', `${n(a.users)} users (the issue's figure).`],
    [
      'A2',
      'Every user logs in as often as every other, at random moments: each at `L / users` per second (a Poisson process). Real traffic favours a hot minority, which the memo and Redis serve better: this is the worst case for both.',
    ],
    [
      'A3',
      `Per login: ${a.perLogin['profile-read']} profile read, ${a.perLogin.logout} logouts, ${a.perLogin['nickname-update']} nickname updates, ${a.perLogin['sign-up']} sign-ups (a guess at a consumer service: a profile read after each sign-in, one session in ten ended by a logout).`,
    ],
    [
      'A4',
      `Each core runs at ${pct(a.utilisation)} at most: headroom for bursts and for the loss of a machine.`,
    ],
    [
      'A5',
      `A machine has ${a.machineCores} cores for one tier's processes (HTTP servers, or TCP servers with their hash threads).`,
    ],
    [
      'A6',
      `The kernel's network work that no process is charged for adds ${pct(a.kernelShare)} to every tier [M6].`,
    ],
    [
      'A7',
      `The defaults: CACHE_TTL_S ${a.cacheTtlS}, MEMO_TTL_S ${a.memoTtlS}, SESSION_TTL_S ${n(a.sessionTtlS)}.`,
    ],
    [
      'A8',
      'Credential affinity (issue 18, item 1, built: `src/rpc/affinity.ts`): the pool sends a user\'s logins and session calls to one TCP server by rendezvous hashing, so the TCP servers\' memos together act as one (measured: three servers, 2000 users logging in three times, 1.00 slow hash per user in all, against 2.1 by load alone; one server killed, 0.34 per user again, its third; bench/RESULTS.md, "Credential affinity over three TCP servers"), and MEMO_MAX_ENTRIES is raised until every live entry fits. Without it, a login finds its entry only on the server that verified it: with N servers the cold fraction becomes about `1 / (1 + λ·MEMO_TTL_S / N)`.',
    ],
    [
      'A9',
      `A logout ends a session ${pct(a.revokedLifeShare)} of the way through its life, so its revocation is kept for ${pct(1 - a.revokedLifeShare)} of SESSION_TTL_S.`,
    ],
    [
      'A10',
      `A Redis shard is one redis-server process (one core for commands) holding at most ${a.redisShardGB} GB, with one replica.`,
    ],
    [
      'A11',
      `The MariaDB primary has ${a.primaryCores} cores, and the whole user table in its buffer pool; its disk keeps up with the commits (not measured here).`,
    ],
    [
      'A12',
      `One TCP server process per core of event loop it needs, each with MYSQL_POOL_SIZE ${a.mysqlPoolSize} connections.`,
    ],
  ];
  return table(
    ['', 'assumption'],
    rows.map(([id, text]) => [`**${id}**`, text]),
  );
}

/** Fractions of logins by path under A2: the memo and Redis entries live a fixed time from their fill. */
export function loginPaths(loginsPerS: number, a: Assumptions = ASSUMPTIONS) {
  const lambda = loginsPerS / a.users;
  // A renewal process: a fill, then TTL seconds of hits; misses are 1 / (1 + λ·TTL) of logins.
  const redisMiss = 1 / (1 + lambda * a.cacheTtlS);
  const memoMiss = Math.min(redisMiss, 1 / (1 + lambda * a.memoTtlS));
  return {
    lambda,
    cached: 1 - redisMiss,
    refill: redisMiss - memoMiss,
    cold: memoMiss,
    /** Users with a live Redis record, and with a live memo entry. */
    cachedUsers: (a.users * lambda * a.cacheTtlS) / (1 + lambda * a.cacheTtlS),
    memoUsers: (a.users * lambda * a.memoTtlS) / (1 + lambda * a.memoTtlS),
  };
}

/** Requests per second of each kind at this rate of logins. */
export function workload(loginsPerS: number, a: Assumptions = ASSUMPTIONS): Record<Kind, number> {
  const p = loginPaths(loginsPerS, a);
  return {
    'login-cached': loginsPerS * p.cached,
    'login-refill': loginsPerS * p.refill,
    'login-cold': loginsPerS * p.cold,
    'profile-read': loginsPerS * a.perLogin['profile-read'],
    logout: loginsPerS * a.perLogin.logout,
    'nickname-update': loginsPerS * a.perLogin['nickname-update'],
    'sign-up': loginsPerS * a.perLogin['sign-up'],
  };
}

/** Median CPU µs per request of `tier` for `kind`. */
const us = (data: TierCosts, kind: Kind, tier: keyof KindFigures['cpuUs']) =>
  median(data.kinds[kind].cpuUs[tier]);

/** argon2id CPU µs per slow hash at the production parameters (in-process, median). */
export const argon2Us = (data: TierCosts) => median(data.argon2.cpuMsPerVerify) * 1000;

/** The slow hashes per request: a cold login verifies once, a sign-up hashes once. */
const SLOW_HASHES: Partial<Record<Kind, number>> = { 'login-cold': 1, 'sign-up': 1 };

/** Everything the model derives at one rate of logins. */
export function capacity(data: TierCosts, loginsPerS: number, a: Assumptions = ASSUMPTIONS) {
  const rates = workload(loginsPerS, a);
  const paths = loginPaths(loginsPerS, a);
  const sum = (f: (kind: Kind) => number) => KINDS.reduce((s, k) => s + rates[k] * f(k), 0);
  const cores = (usPerS: number) => ((usPerS / 1e6) * (1 + a.kernelShare)) / a.utilisation;
  const redisCommands = (k: Kind) =>
    Object.values(data.kinds[k].redisCommands).reduce((s, x) => s + x, 0);
  const mysql = (k: Kind, ...names: string[]) =>
    names.reduce((s, name) => s + (data.kinds[k].mysqlCounters[name] ?? 0), 0);
  const keyBytes = (k: Kind) =>
    data.kinds[k].redisKeys > 0 ? data.kinds[k].redisBytes / data.kinds[k].redisKeys : 0;

  const http = cores(sum((k) => us(data, k, 'http')));
  const tcp = cores(sum((k) => us(data, k, 'tcp')));
  // No network work on the hash threads: no kernel share.
  const argon2 = sum((k) => (SLOW_HASHES[k] ?? 0) * argon2Us(data)) / 1e6 / a.utilisation;
  const redis = cores(sum((k) => us(data, k, 'redis')));
  const mariadb = cores(sum((k) => us(data, k, 'mariadb')));
  const tcpProcesses = Math.ceil(tcp);
  const revocations = rates.logout * (1 - a.revokedLifeShare) * a.sessionTtlS;
  const recordBytes = paths.cachedUsers * keyBytes('login-cold');
  const revocationBytes = revocations * keyBytes('logout');
  const redisOps = sum(redisCommands);
  const shardsForCpu = Math.ceil(redis);
  const shardsForMemory = Math.ceil((recordBytes + revocationBytes) / 1e9 / a.redisShardGB);
  const redisShards = Math.max(shardsForCpu, shardsForMemory);
  const userRow = data.sizes.mariadbUser.dataBytes + data.sizes.mariadbUser.indexBytes;
  const revokedRow =
    data.sizes.mariadbRevocation.dataBytes + data.sizes.mariadbRevocation.indexBytes;
  return {
    loginsPerS,
    rates,
    paths,
    cores: { http, tcp, argon2, redis, mariadb },
    machines: {
      http: Math.ceil(http / a.machineCores),
      tcp: Math.ceil((tcp + argon2) / a.machineCores),
    },
    tcpProcesses,
    mysqlConnections: tcpProcesses * a.mysqlPoolSize,
    memoBytes: paths.memoUsers * data.sizes.memoEntryBytes,
    redis: {
      ops: redisOps,
      recordBytes,
      revocations,
      revocationBytes,
      shardsForCpu,
      shardsForMemory,
      shards: redisShards,
      nodes: 2 * redisShards,
    },
    mariadb: {
      reads: sum((k) => mysql(k, 'Com_select')),
      writes: sum((k) => mysql(k, 'Com_insert', 'Com_update', 'Com_delete', 'Com_replace')),
      binlogBytes: sum((k) => mysql(k, 'Binlog_bytes_written')),
      redoBytes: sum((k) => mysql(k, 'Innodb_os_log_written')),
      primaryLoad: mariadb / a.primaryCores,
      userBytes: a.users * userRow,
      revokedBytes: revocations * revokedRow,
    },
  };
}

/** The measured figures the model uses beyond the per-request table, with their references. */
export function sizesTable(data: TierCosts): string {
  const cold = data.kinds['login-cold'];
  const logout = data.kinds.logout;
  const user = data.sizes.mariadbUser;
  const revoked = data.sizes.mariadbRevocation;
  const ok = data.reloads.filter((r) => r.ok);
  const largest = ok.at(-1);
  const failed = data.reloads.find((r) => !r.ok);
  const rows: string[][] = [
    [
      '**M2**',
      'Redis memory per cached user record',
      `${n(cold.redisBytes / cold.redisKeys)} B of used_memory per key a cold login adds (${n(data.sizes.redisUserKeyBytes)} B by MEMORY USAGE)`,
    ],
    [
      '**M3**',
      'Redis memory per revoked session',
      `${n(logout.redisBytes / logout.redisKeys)} B of used_memory per key a logout adds (${n(data.sizes.redisRevocationKeyBytes)} B by MEMORY USAGE)`,
    ],
    [
      '**M4**',
      'MariaDB bytes per user, row and indexes',
      `${n(user.dataBytes)} + ${n(user.indexBytes)} B (\`${user.source}\`, ${n(user.rows)} rows, information_schema)`,
    ],
    [
      '**M5**',
      'MariaDB bytes per revoked session',
      `${n(revoked.dataBytes)} + ${n(revoked.indexBytes)} B (\`${revoked.source}\`, ${n(revoked.rows)} rows)`,
    ],
    [
      '**M7**',
      'argon2id (m=19456, t=2) CPU per slow hash',
      `${ms(argon2Us(data))} (median of ${data.argon2.cpuMsPerVerify.length}: ${data.argon2.cpuMsPerVerify.join(', ')} ms): ${n(1e6 / argon2Us(data))} per core per second`,
    ],
    ['**M8**', 'credential memo per entry', `${n(data.sizes.memoEntryBytes)} B of JavaScript heap`],
    [
      '**M9**',
      'Redis CPU per GET (redis-benchmark, 50 clients)',
      `${median(data.redisPerGet.pipeline1)} µs unpipelined, ${median(data.redisPerGet.pipeline16)} µs 16 per pipeline (medians of ${data.redisPerGet.pipeline1.length})`,
    ],
    [
      '**M10**',
      'reload of the revoked-session mirror',
      [
        largest
          ? `${n(largest.rows)} live revocations reloaded in ${n(largest.wallMs)} ms (TCP ${largest.tcpUsPerRow} µs, Redis ${largest.redisUsPerRow} µs per revocation; TCP memory +${n(largest.tcpBytesPerRow)} B per revocation)`
          : 'no reload succeeded',
        failed ? `; ${n(failed.rows)} not reloaded within 20 s` : '',
      ].join(''),
    ],
  ];
  return table(['', 'what', 'figure'], rows);
}

/** Requests per second by kind and the fraction of logins on each path. */
export function workloadTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const results = a.loginRates.map((rate) => capacity(data, rate, a));
  const head = ['', ...results.map((c) => `${n(c.loginsPerS)} logins/s`), 'from'];
  const rows: string[][] = [
    ['each user logs in every', ...results.map((c) => `${n(1 / c.paths.lambda)} s`), 'A1, A2'],
    [
      'logins the memo and Redis answer (cached)',
      ...results.map((c) => `${pct(c.paths.cached)}: ${n(c.rates['login-cached'])}/s`),
      'A2, A7: 1 − 1/(1 + λ·CACHE_TTL_S)',
    ],
    [
      'logins the memo answers, Redis misses',
      ...results.map((c) => `${pct(c.paths.refill)}: ${n(c.rates['login-refill'])}/s`),
      'A2, A7, A8',
    ],
    [
      'cold logins: memo miss, a slow verify',
      ...results.map((c) => `${pct(c.paths.cold)}: ${n(c.rates['login-cold'])}/s`),
      'A2, A7, A8: 1/(1 + λ·MEMO_TTL_S)',
    ],
    ...(['profile-read', 'logout', 'nickname-update', 'sign-up'] as Kind[]).map((kind) => [
      `${KIND_NAMES[kind]}s`,
      ...results.map((c) => `${n(c.rates[kind])}/s`),
      'A3',
    ]),
  ];
  return table(head, rows);
}

/** Cores and machines per tier. */
export function coresTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const results = a.loginRates.map((rate) => capacity(data, rate, a));
  const head = ['tier', ...results.map((c) => `${n(c.loginsPerS)} logins/s`), 'from'];
  const machines = (m: number) => `${n(m)} machine${m === 1 ? '' : 's'}`;
  const rows: string[][] = [
    [
      'HTTP servers',
      ...results.map((c) => `${cores(c.cores.http)} cores: ${machines(c.machines.http)}`),
      'M1 HTTP × rates, A4–A6',
    ],
    [
      'TCP servers (all but the hash threads)',
      ...results.map((c) => `${cores(c.cores.tcp)} cores (${n(c.tcpProcesses)} processes)`),
      'M1 TCP × rates, A4, A6, A12',
    ],
    [
      'TCP servers, argon2id on the hash threads',
      ...results.map((c) => `${cores(c.cores.argon2)} cores`),
      'M7 × (cold logins + sign-ups), A4',
    ],
    ['TCP server machines (both rows)', ...results.map((c) => machines(c.machines.tcp)), 'A5'],
    ['Redis', ...results.map((c) => `${cores(c.cores.redis)} cores`), 'M1 Redis × rates, A4, A6'],
    [
      'MariaDB primary',
      ...results.map(
        (c) =>
          `${cores(c.cores.mariadb)} cores: ${pct(c.mariadb.primaryLoad)} of a ${a.primaryCores}-core primary`,
      ),
      'M1 MariaDB × rates, A4, A11',
    ],
    [
      'credential memo, all TCP servers',
      ...results.map((c) => `${gb(c.memoBytes)} (${n(c.paths.memoUsers)} entries)`),
      'M8, A2, A8',
    ],
  ];
  return table(head, rows);
}

/** What Redis Cluster and the MariaDB primary carry. */
export function storesTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const results = a.loginRates.map((rate) => capacity(data, rate, a));
  const head = ['', ...results.map((c) => `${n(c.loginsPerS)} logins/s`), 'from'];
  const rows: string[][] = [
    ['Redis commands', ...results.map((c) => `${n(c.redis.ops)}/s`), 'M1 × rates'],
    [
      'Redis: cached user records',
      ...results.map((c) => `${n(c.paths.cachedUsers)} users, ${gb(c.redis.recordBytes)}`),
      'M2, A2, A7',
    ],
    [
      'Redis: live revoked sessions',
      ...results.map((c) => `${n(c.redis.revocations)}, ${gb(c.redis.revocationBytes)}`),
      'M3, A3, A7, A9',
    ],
    [
      'Redis Cluster',
      ...results.map(
        (c) =>
          `${n(c.redis.shards)} shards (${n(c.redis.shardsForCpu)} for CPU, ${n(c.redis.shardsForMemory)} for memory), ${n(c.redis.nodes)} nodes with replicas`,
      ),
      'A10: the larger of CPU and memory',
    ],
    [
      'MariaDB primary: writes',
      ...results.map((c) => `${n(c.mariadb.writes)}/s`),
      'M1 statements × rates',
    ],
    [
      'MariaDB primary: reads (Redis misses, read-backs)',
      ...results.map((c) => `${n(c.mariadb.reads)}/s`),
      'M1 statements × rates',
    ],
    [
      'redo log written',
      ...results.map((c) => `${mb(c.mariadb.redoBytes)}/s`),
      'M1 Innodb_os_log_written × rates',
    ],
    [
      'binary log (to each replica)',
      ...results.map((c) => `${mb(c.mariadb.binlogBytes)}/s`),
      'M1 Binlog_bytes_written × rates',
    ],
    ['MariaDB data: users', ...results.map((c) => gb(c.mariadb.userBytes)), 'M4, A1'],
    [
      'MariaDB data: revoked sessions',
      ...results.map((c) => gb(c.mariadb.revokedBytes)),
      'M5, A3, A9',
    ],
    [
      'primaries needed (Vitess shards, below)',
      ...results.map((c) => n(Math.ceil(c.mariadb.primaryLoad))),
      'A11',
    ],
    ['MySQL connections from the TCP servers', ...results.map((c) => n(c.mysqlConnections)), 'A12'],
  ];
  return table(head, rows);
}

/**
 * The login rate at which `load(rate)` reaches `limit`, by bisection
 * between 1/s and 10^9/s (every load here grows with the rate).
 */
function rateAt(load: (rate: number) => number, limit: number): number {
  let low = 1;
  let high = 1e9;
  if (load(high) < limit) return Number.POSITIVE_INFINITY;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(low * high);
    if (load(mid) < limit) low = mid;
    else high = mid;
  }
  return low;
}

/** What does not grow by adding processes, and the login rate at which each runs out. */
export function wallsTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const failed = data.reloads.find((r) => !r.ok);
  const largest = data.reloads.filter((r) => r.ok).at(-1);
  const sentinelChecks = (rate: number) => (rate * a.perLogin['profile-read']) / a.revocationShards;
  const getUs = median(data.redisPerGet.pipeline1);
  const walls: [string, string, number, string][] = [
    [
      'reload of the revoked-session mirror after a Redis node loses its data: the live revocations of each lost shard read into one TCP server 5,000 at a time and written back 1,000 at a time, each SET within REDIS_COMMAND_TIMEOUT_MS (1 s)',
      failed
        ? `${n(largest?.rows ?? 0)} revocations reloaded, ${n(failed.rows)} not [M10]`
        : `${n(largest?.rows ?? 0)} revocations reloaded in ${n(largest?.wallMs ?? 0)} ms, the most measured [M10]`,
      // Without a failure, the wall is where the measurement ends: beyond it, nobody knows.
      rateAt((r) => capacity(data, r, a).redis.revocations, failed?.rows ?? largest?.rows ?? 0),
      'A3, A7, A9',
    ],
    [
      'MariaDB primary CPU',
      `${a.primaryCores} cores at ${pct(a.utilisation)}`,
      rateAt((r) => capacity(data, r, a).mariadb.primaryLoad, 1),
      'M1, A3, A11',
    ],
    [
      "one revocation shard's sentinel key: read by every session check of its shard (at most once per check)",
      `one Redis core at ${pct(a.utilisation)}: ${n((a.utilisation * 1e6) / getUs)} GETs/s [M9]`,
      rateAt(sentinelChecks, (a.utilisation * 1e6) / getUs),
      'A3, 16 shards on a cluster',
    ],
  ];
  const sorted = [...walls].sort((x, y) => x[2] - y[2]);
  return table(
    ['resource', 'limit', 'reached at', 'from'],
    sorted.map(([what, limit, rate, from]) => [
      what,
      limit,
      Number.isFinite(rate) ? `${n(rate)} logins/s` : 'not reached',
      from,
    ]),
  );
}

/** Slow hashes after the memo is lost: what one core does, and what a restart asks of the fleet. */
export function herdTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const results = a.loginRates.map((rate) => capacity(data, rate, a));
  const perCore = 1e6 / argon2Us(data);
  const head = ['', ...results.map((c) => `${n(c.loginsPerS)} logins/s`), 'from'];
  const rows: string[][] = [
    ['slow hashes per core per second', ...results.map(() => n(perCore)), 'M7'],
    [
      'cores for the steady cold logins and sign-ups',
      ...results.map((c) => cores(c.cores.argon2)),
      'M7, A4',
    ],
    [
      'cores if every login were cold (all TCP servers restarted at once)',
      ...results.map((c) => cores(c.loginsPerS / perCore / a.utilisation)),
      'M7, A4',
    ],
    [
      'users to verify again after such a restart (live memo entries)',
      ...results.map((c) => n(c.paths.memoUsers)),
      'A2, A7, A8',
    ],
    [
      'one TCP server of N restarted (with A8): slow hashes it adds',
      ...results.map((c) => `${n(c.paths.memoUsers)} / N`),
      'A8',
    ],
  ];
  return table(head, rows);
}

/** The memo's lifetime against the cores argon2id needs and the memory the memo takes (A2, A8). */
export function memoLeversTable(data: TierCosts, a: Assumptions = ASSUMPTIONS): string {
  const ttls = [a.memoTtlS, 3600, 86_400];
  const head = ['MEMO_TTL_S', ...a.loginRates.map((rate) => `${n(rate)} logins/s`), 'from'];
  const rows = ttls.map((memoTtlS) => [
    `${n(memoTtlS)}${memoTtlS === a.memoTtlS ? ' (default)' : ''}`,
    ...a.loginRates.map((rate) => {
      const c = capacity(data, rate, { ...a, memoTtlS });
      return `${pct(c.paths.cold)} cold, ${cores(c.cores.argon2)} cores of argon2id; memo ${n(c.paths.memoUsers)} entries, ${gb(c.memoBytes)}`;
    }),
    'M7, M8, A2, A4, A8',
  ]);
  return table(head, rows);
}

/** Every generated block of docs/SCALING.md, by name. */
export function generatedBlocks(data: TierCosts): Record<string, string> {
  return {
    source: `Figures of commit \`${data.commit}\`, measured ${data.date} UTC on ${data.machine.cores} cores (load average ${data.machine.loadBefore[0]} before, ${data.machine.loadAfter[0]} after), medians of ${data.runs} runs: \`${data.command}\`.`,
    assumptions: assumptionsTable(),
    sizes: sizesTable(data),
    workload: workloadTable(data),
    cores: coresTable(data),
    levers: memoLeversTable(data),
    stores: storesTable(data),
    walls: wallsTable(data),
    herd: herdTable(data),
  };
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** 1,234,567 or 0.35: whole numbers with separators, small ones to two significant figures. */
function n(x: number): string {
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return String(Math.round(x));
  return String(Number(x.toPrecision(2)));
}
const pct = (x: number) => `${Number((x * 100).toPrecision(2))} %`;
const cores = (x: number) => n(x);
const ms = (usValue: number) => `${Number((usValue / 1000).toPrecision(3))} ms`;
const gb = (bytes: number) => `${n(bytes / 1e9)} GB`;
const mb = (bytes: number) => `${n(bytes / 1e6)} MB`;
