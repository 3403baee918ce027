/**
 * `bun bench/signup-flood.ts [--root DIR]`: do sign-ups with crafted
 * passwords slow down everyone's logins?
 *
 * Starts a TCP and an HTTP server (SQLite, no cache, the default limits: the
 * attack must get through them as an attacker's would) from `--root` (default:
 * this tree; another checkout to compare), registers one user and logs it in
 * once (warm: the credential memo answers), then, in `--rounds` pairs of
 * phases of `--duration` s, measures that user's logins from one closed-loop
 * client: alone, then beside `--attackers` clients that sign up without pause
 * from one address, each with an invalid username and a 32-character password
 * that keeps the strength estimator busy longest. Prints each phase's login
 * p50/p99/max and the sign-ups' answers, then one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Server, startServer, stopServers, waitForPort, waitUntilReady } from './procs.ts';
import { latencySummary } from './stats.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: `${import.meta.dir}/..` },
    duration: { type: 'string', default: '8' },
    attackers: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
  },
});
const durationMs = Number(values.duration) * 1000;
const root = values.root;
const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-bench-flood-'));
const tcpPort = 18_000 + Math.floor(Math.random() * 1000);
const httpPort = tcpPort + 1000;
const url = `http://127.0.0.1:${httpPort}`;
const PASSWORD = 'correct horse battery staple';
/** The slowest the estimator was found on (an attack pass and an operator's audit, 2026-12-05). */
const CRAFTED = ['1234567890'.repeat(4).slice(0, 32), '19870412'.repeat(4), 'a1!B'.repeat(8)];

const common = {
  DATA_DIR: dataDir,
  MYSQL_URL: '',
  REDIS_URL: '',
  LOG_LEVEL: 'error',
  ARGON2_MEMORY_KIB: '19456',
  HTTP_PROCESSES: '1',
};
const start = (name: string, script: string, env: Record<string, string>): Server =>
  startServer(name, script, { ...common, ...env }, '', root);

const servers: Server[] = [];
servers.push(start('tcp', 'src/tcp/main.ts', { TCP_PORT: String(tcpPort), TCP_METRICS_PORT: '0' }));
await waitForPort(tcpPort, servers);
servers.push(
  start('http', 'src/http/main.ts', {
    HTTP_PORT: String(httpPort),
    HTTP_METRICS_PORT: '0',
    TCP_ADDRS: `127.0.0.1:${tcpPort}`,
  }),
);

const json = (body: object) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function phase(name: string, attackers: number) {
  const until = performance.now() + durationMs;
  const latencies: number[] = [];
  const logins: Record<string, number> = {};
  const signUps: Record<string, number> = {};
  const login = async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const res = await fetch(
        `${url}/open_api/v1/authenticate`,
        json({ username: 'flood_probe', password: PASSWORD }),
      ).catch(() => null);
      await res?.arrayBuffer();
      latencies.push(performance.now() - started);
      const status = String(res?.status ?? 0);
      logins[status] = (logins[status] ?? 0) + 1;
      await Bun.sleep(20);
    }
  };
  const signUp = async (first: number) => {
    for (let i = first; performance.now() < until; i++) {
      const password = CRAFTED[i % CRAFTED.length] as string;
      const res = await fetch(
        `${url}/open_api/v1/register`,
        json({ username: 'a', password }),
      ).catch(() => null);
      await res?.arrayBuffer();
      const status = String(res?.status ?? 0);
      signUps[status] = (signUps[status] ?? 0) + 1;
    }
  };
  await Promise.all([login(), ...Array.from({ length: attackers }, (_, i) => signUp(i))]);
  const { p50_ms, p99_ms } = latencySummary(latencies);
  return { name, p50_ms, p99_ms, max_ms: Math.round(Math.max(...latencies)), logins, signUps };
}

try {
  await waitUntilReady(`${url}/readyz`, servers);
  await fetch(`${url}/open_api/v1/register`, json({ username: 'flood_probe', password: PASSWORD }));
  await fetch(
    `${url}/open_api/v1/authenticate`,
    json({ username: 'flood_probe', password: PASSWORD }),
  );
  const runs = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, attackers] of [
      ['alone', 0],
      ['beside sign-ups', Number(values.attackers)],
    ] as const) {
      const run = await phase(name, attackers);
      console.log(
        `${run.name}: login p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, max ${run.max_ms} ms; ` +
          `logins ${JSON.stringify(run.logins)}; sign-ups ${JSON.stringify(run.signUps)}`,
      );
      runs.push(run);
      await Bun.sleep(1000); // the address's budget refills a little between phases
    }
  }
  console.log(JSON.stringify({ root, attackers: Number(values.attackers), runs }));
} finally {
  await stopServers(servers);
  rmSync(dataDir, { recursive: true, force: true });
}
