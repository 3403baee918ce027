/**
 * `npm run bench -- <scenario> [--cold] [--cache on|off] [--connections 1000] [--duration 30]
 *   [--users 200] [--random] [--runs 1] [--threads 2] [--url URL] [--no-baseline]
 *   [--cold-connections 50] [--http-processes cores≤4] [--metrics on|off] [--profile DIR]
 *   [--root DIR]`
 *
 * Scenarios: baseline, login, profile, nickname, cold-login (bench/scenarios.ts).
 * Starts the TCP server and the HTTP server as two processes against
 * MYSQL_URL (seeded with `npm run seed`) and, with `--cache on`, Redis at
 * REDIS_URL (default redis://127.0.0.1:6379); or measures a running server
 * given with `--url`. Before the scenario it measures `baseline` (a bare Hono
 * JSON endpoint) for the same time, for a ratio. Prints a summary and, as
 * its last line, one JSON object.
 *
 * `login --cold` measures a freshly started stack as anyone runs it after
 * `npm start`: an empty credential memo, fresh throttle counts (a key prefix
 * of its own in Redis), no sequential pre-warm and no warm-up load. It
 * reports when every user had logged in once, the non-2xx before and after
 * that moment, and how many accounts had a throttle count left at the end.
 *
 * cold-login runs two loads at once: warm logins on `connections -
 * cold-connections` connections and, on the rest, logins of users never seen
 * before (each one a full argon2id verify), to show what argon2 costs and
 * that it does not starve the rest.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';
import { parseUser } from '../src/core/rate-limits-rules.ts';
import {
  CpuMeter,
  pidsOf,
  requireFreePort,
  rssMb,
  type Server,
  serverWarnings,
  startServer,
  stopServers,
  waitForPort,
  waitUntilReady,
} from './procs.ts';
import { pickUsers, plan, SCENARIOS, type Scenario, warm } from './scenarios.ts';
import { type BenchRequest, runWrk, type WrkResult } from './wrk.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    cache: { type: 'string', default: 'on' },
    cold: { type: 'boolean', default: false },
    connections: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '30' },
    users: { type: 'string', default: '200' },
    random: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    url: { type: 'string', default: '' },
    'no-baseline': { type: 'boolean', default: false },
    profile: { type: 'string', default: '' },
    'cold-connections': { type: 'string', default: '50' },
    'http-port': { type: 'string', default: '18080' },
    // As npm start: one HTTP server per core, up to 4.
    'http-processes': {
      type: 'string',
      default: String(Math.min(4, navigator.hardwareConcurrency || 1)),
    },
    metrics: { type: 'string', default: 'on' },
    'tcp-port': { type: 'string', default: '19090' },
    root: { type: 'string', default: '' },
  },
});

const scenario = positionals[0] as Scenario;
if (!SCENARIOS.includes(scenario)) {
  console.error(`usage: npm run bench -- <${SCENARIOS.join('|')}> [options]; see bench/README.md`);
  process.exit(2);
}
if (values.cold && scenario !== 'login') {
  console.error('--cold applies to the login scenario only');
  process.exit(2);
}
const cache = values.cache === 'off' ? 'off' : 'on';
/** A fresh Redis for a cold run: nothing cached, no throttle count left from an earlier run. */
// REDIS_KEY_PREFIX, when set, keeps runs of several people on one Redis apart.
const basePrefix = process.env.REDIS_KEY_PREFIX || 'bench:';
const keyPrefix = values.cold
  ? `${basePrefix}cold:${crypto.randomUUID().slice(0, 8)}:`
  : basePrefix;
const connections = Number(values.connections);
const durationS = Number(values.duration);
const userCount = Number(values.users);
const runs = Number(values.runs);
const threads = Number(values.threads);
const coldConnections = Math.min(Number(values['cold-connections']), connections - 1);
const mysqlUrl = process.env.MYSQL_URL ?? '';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

async function seededUsers(): Promise<number> {
  if (mysqlUrl === '')
    throw new Error('MYSQL_URL is not set: point it at a database seeded with `npm run seed`');
  const conn = await mysql.createConnection(mysqlUrl);
  try {
    const [[row]] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT MAX(id) AS n FROM users WHERE id < 1000000000000',
    );
    const n = Number(row?.n ?? 0);
    if (n < userCount)
      throw new Error(
        `only ${n} seeded users; run: npm run seed -- --users ${Math.max(userCount, 100000)}`,
      );
    return n;
  } finally {
    await conn.end();
  }
}

/**
 * CPU microseconds each process spent per request: a figure that moves less
 * than req/s when something else on the machine takes a core for a while.
 */
function perRequest(cpu: Record<string, number>, rps: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(cpu).map(([name, percent]) => [name, Math.round((percent * 10_000) / rps)]),
  );
}

function median(results: WrkResult[]): WrkResult {
  return [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)] as WrkResult;
}

async function measure(url: string, requests: BenchRequest[], conns: number): Promise<WrkResult> {
  return runWrk({ url, connections: conns, threads, durationS, requests });
}

async function baseline(users: number[]): Promise<WrkResult> {
  const port = Number(values['http-port']) + 1;
  await requireFreePort(port, '--http-port (the baseline takes the next one)');
  const server = startServer('baseline', 'bench/baseline-server.ts', { HTTP_PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/readyz`, [server]);
    const { requests, warmUp } = await plan('baseline', url, users, 0);
    await warm(url, warmUp);
    await runWrk({ url, connections, threads, durationS: 3, requests });
    return await measure(url, requests, connections);
  } finally {
    await stopServers([server]);
  }
}

/**
 * The TCP server, then (once it accepts connections) the HTTP servers, as
 * npm start does: an HTTP server started first backs off from the refused
 * connection and, with several of them on one port, the one /readyz did not
 * reach could still be backing off when the load begins.
 */
/** The servers of this checkout, or with `--root DIR` of another one. */
const tree = values.root === '' ? undefined : resolve(values.root);

async function startStack(): Promise<Server[]> {
  const tcpPort = values['tcp-port'] as string;
  await requireFreePort(Number(tcpPort), '--tcp-port');
  if (values.cold)
    await requireFreePort(Number(tcpPort) + 1, '--tcp-port (metrics take the next one)');
  await requireFreePort(Number(values['http-port']), '--http-port');
  const common = {
    LOG_LEVEL: 'warn',
    MYSQL_URL: mysqlUrl,
    REDIS_URL: cache === 'on' ? redisUrl : '',
    REDIS_KEY_PREFIX: keyPrefix,
    METRICS_ENABLED: String(values.metrics !== 'off'),
    // All simulated clients share one address (the load generator's): the
    // per-address limits are off (budget, and share of the hash queue); the
    // per-username limits stay as configured.
    RATE_LIMIT_IP_PER_S: '100000000',
    RATE_LIMIT_IP_BURST: '100000000',
    HASH_QUEUE_PER_ADDRESS: '100000',
  };
  const tcp = startServer(
    'tcp',
    'src/tcp/main.ts',
    {
      ...common,
      TCP_PORT: tcpPort,
      // A cold run reads the TCP server's slow-verify count every second.
      TCP_METRICS_PORT: values.cold ? String(Number(tcpPort) + 1) : '0',
    },
    values.profile,
    tree,
  );
  await waitForPort(Number(tcpPort), [tcp]);
  const processes = Number(values['http-processes']);
  const http = Array.from({ length: processes }, () =>
    startServer(
      'http',
      'src/http/main.ts',
      {
        ...common,
        HTTP_PORT: values['http-port'],
        HTTP_REUSE_PORT: String(processes > 1),
        // Each process serves its own /metrics; the bench reads none of them.
        HTTP_METRICS_PORT: '0',
        TCP_ADDRS: `127.0.0.1:${tcpPort}`,
      },
      values.profile,
      tree,
    ),
  );
  return [tcp, ...http];
}

/**
 * Reads the TCP server's count of slow verifies (its /metrics) once a second
 * until stopped; answers the verifies done in each second. Shows whether the
 * hash threads slow down as more users are in (and their logins take the cores).
 */
function sampleVerifies(metricsPort: number): { stop(): Promise<number[]> } {
  const totals: number[] = [];
  let running = true;
  const read = async (): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const line = (await res.text())
      .split('\n')
      .find((l) => l.startsWith('usermgr_hash_total{kind="verify"'));
    return Number(line?.split(' ').at(-1) ?? Number.NaN);
  };
  const loop = (async () => {
    const started = performance.now();
    while (running) {
      totals.push(await read().catch(() => Number.NaN));
      await Bun.sleep(Math.max(0, started + totals.length * 1000 - performance.now()));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return totals.slice(1).map((total, i) => total - (totals[i] as number));
    },
  };
}

const seeded = scenario === 'baseline' ? userCount : await seededUsers();
const users = pickUsers(userCount, values.random, seeded);
const base =
  values['no-baseline'] || values.cold || scenario === 'baseline' ? null : await baseline(users);

const servers = values.url === '' ? await startStack() : [];
const url = values.url || `http://127.0.0.1:${values['http-port']}`;
try {
  if (scenario === 'baseline') {
    const result = await baseline(users);
    report(result, null, {}, {});
  } else if (values.cold) {
    await waitUntilReady(`${url}/readyz`, servers);
    console.log(`cold login: ${users.length} users, cache ${cache}, no pre-warm`);
    const { requests } = await plan('login', url, users, seeded);
    const verifies = values.url === '' ? sampleVerifies(Number(values['tcp-port']) + 1) : null;
    const result = await runWrk({
      url,
      connections,
      threads,
      durationS,
      requests,
      firstLogins: users.length,
    });
    const perSecond = verifies === null ? null : await verifies.stop();
    const counted = cache === 'on' ? await countedAccounts() : null;
    const first = result.first_logins;
    if (perSecond !== null) console.log(`slow verifies in each second: ${perSecond.join(' ')}`);
    console.log(
      `every user in after ${first?.all_in_ms ?? '-'} ms (${first?.users_in}/${users.length}; ` +
        `25/50/75/90 % in after ${first?.in_ms.map((t) => t ?? '-').join('/')} ms); ` +
        `non-2xx before ${first?.non2xx_before}, after ${first?.non2xx_after}; ` +
        `accounts with failures counted at the end: ${counted?.failures ?? 'not visible (cache off)'}` +
        (counted ? ` (attempts still in flight: ${counted.inFlight})` : ''),
    );
    report(
      result,
      null,
      {},
      {
        ...first,
        verifies_per_s: perSecond,
        accounts_with_failures: counted?.failures ?? null,
        accounts_in_flight: counted?.inFlight ?? null,
      },
    );
  } else {
    await waitUntilReady(`${url}/readyz`, servers);
    console.log(
      `preparing ${scenario}: ${users.length} users${values.random ? ' (random)' : ''}, cache ${cache}`,
    );
    const main = await plan(scenario === 'cold-login' ? 'login' : scenario, url, users, seeded);
    await warm(url, main.warmUp);
    await runWrk({ url, connections, threads, durationS: 3, requests: main.requests }); // JIT, pools, memo
    const cold = scenario === 'cold-login' ? await plan('cold-login', url, users, seeded) : null;
    const pid = (name: string) => () =>
      servers.filter((s) => s.name === name).map((s) => s.proc.pid);
    const meter = new CpuMeter({
      http: pid('http'),
      tcp: pid('tcp'),
      mariadb: () => pidsOf('mariadbd'),
      redis: () => pidsOf('redis-server'),
    });
    const results: WrkResult[] = [];
    const colds: WrkResult[] = [];
    const cpuOf = new Map<WrkResult, Record<string, number>>();
    for (let run = 0; run < runs; run++) {
      meter.start();
      const warmConns = cold ? connections - coldConnections : connections;
      const [result, coldResult] = await Promise.all([
        measure(url, main.requests, warmConns),
        cold
          ? runWrk({
              url,
              connections: coldConnections,
              threads: 1,
              durationS,
              requests: cold.requests,
            })
          : null,
      ]);
      const cpu = meter.stop();
      cpuOf.set(result, cpu);
      cpu.wrk = Math.round(((result.cpu_s + (coldResult?.cpu_s ?? 0)) / result.duration_s) * 100);
      results.push(result);
      if (coldResult) colds.push(coldResult);
      console.log(
        `run ${run + 1}/${runs}: ${result.rps} req/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, non-2xx ${result.non2xx}, socket errors ${result.socket_errors}`,
      );
    }
    const rss: Record<string, number> = {};
    for (const s of servers)
      rss[`${s.name}_rss_mb`] = Math.max(rss[`${s.name}_rss_mb`] ?? 0, rssMb(s.proc.pid));
    const extra: Record<string, unknown> = { ...rss };
    if (colds.length > 0) {
      const c = median(colds);
      Object.assign(extra, {
        cold_connections: coldConnections,
        cold_requests: c.requests,
        cold_ok_per_s: Math.round((c.requests - c.non2xx) / c.duration_s),
        cold_non2xx: c.non2xx,
        cold_p99_ms: c.p99_ms,
      });
    }
    const middle = median(results);
    report(middle, base, cpuOf.get(middle) ?? {}, extra);
  }
} finally {
  await stopServers(servers);
}

/**
 * Accounts with failures counted in Redis under this run's prefix (with
 * nothing but correct passwords there must be none), once the attempts still
 * in flight when the load stopped have ended (their deadline, 5 s, and a slow
 * hash), or 15 s have passed; and how many were still in flight then.
 */
async function countedAccounts(): Promise<{ failures: number; inFlight: number }> {
  const redis = new Redis(redisUrl);
  try {
    const until = performance.now() + 15_000;
    for (;;) {
      const counted = { failures: 0, inFlight: 0 };
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}rl:u:*`, 'COUNT', 1000);
        cursor = next;
        const values = keys.length > 0 ? await redis.mget(keys) : [];
        for (const value of values) {
          const count = parseUser(value ?? undefined, Date.now(), 86_400_000);
          if (count.failures > 0) counted.failures++;
          if (count.inFlight > 0) counted.inFlight++;
        }
      } while (cursor !== '0');
      if (counted.inFlight === 0 || performance.now() > until) return counted;
      await Bun.sleep(500);
    }
  } finally {
    redis.disconnect();
  }
}

function report(
  result: WrkResult,
  base: WrkResult | null,
  cpu: Record<string, number>,
  extra: Record<string, unknown>,
): void {
  const summary = {
    scenario,
    cold: values.cold,
    cache,
    connections,
    users: userCount,
    random: values.random,
    duration_s: result.duration_s,
    requests: result.requests,
    rps: result.rps,
    p50_ms: result.p50_ms,
    p99_ms: result.p99_ms,
    max_ms: result.max_ms,
    non2xx: result.non2xx,
    socket_errors: result.socket_errors,
    ...(base
      ? {
          baseline_rps: base.rps,
          ratio_to_baseline: Math.round((result.rps / base.rps) * 100) / 100,
        }
      : {}),
    ...(Object.keys(cpu).length
      ? { cpu_percent: cpu, cpu_us_per_request: perRequest(cpu, result.rps) }
      : {}),
    ...extra,
    // null: not read (a server given with --url logs elsewhere).
    server_warnings: values.url === '' ? serverWarnings(servers) : null,
  };
  console.log(
    `\n${scenario}${values.cold ? ' --cold' : ''} (cache ${cache}, ${connections} connections, ${userCount} users${values.random ? ', random' : ''}):`,
  );
  console.log(
    `  ${result.rps.toLocaleString()} req/s over ${result.duration_s} s; latency p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms`,
  );
  console.log(
    `  non-2xx ${result.non2xx}, socket errors ${result.socket_errors} (${JSON.stringify(result.errors)})`,
  );
  if (base)
    console.log(
      `  baseline ${base.rps.toLocaleString()} req/s in this run: ratio ${summary.ratio_to_baseline}`,
    );
  if (Object.keys(cpu).length) {
    console.log(`  CPU (% of one core): ${JSON.stringify(cpu)}`);
    console.log(`  CPU per request (µs): ${JSON.stringify(perRequest(cpu, result.rps))}`);
  }
  const warnings = summary.server_warnings;
  console.log(
    warnings === null
      ? '  server warnings: not read (a server given with --url)'
      : Object.keys(warnings).length === 0
        ? '  server warnings: none'
        : `  SERVER WARNINGS (lines logged, by message): ${JSON.stringify(warnings)}`,
  );
  console.log(JSON.stringify(summary));
}
