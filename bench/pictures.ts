/**
 * `npm run bench:pictures`: do hostile uploads slow down logins?
 *
 * Starts a TCP and an HTTP server (SQLite, no cache: nothing else to wait
 * for) from `--root` (default: this tree; point it at another checkout to
 * compare), registers users and logs each in once (warm: the credential memo
 * answers, the path most logins take), then measures warm logins from
 * `--connections` closed-loop clients in `--rounds` pairs of phases of
 * `--duration` s: alone, then beside `--uploaders` clients uploading the
 * hostile set of test/support/images.ts without pause (each as a user of its
 * own). Prints each phase's login p50/p99, the uploads' outcomes, the TCP
 * process's CPU and peak RSS, then the median p99 of each kind and their
 * ratio; last, one JSON line.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { HostileImage } from '../test/support/images.ts';
import {
  cpuSeconds,
  rssMb,
  type Server,
  serverWarnings,
  startServer,
  stopServers,
  waitForPort,
  waitUntilReady,
} from './procs.ts';
import { latencySummary } from './stats.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: `${import.meta.dir}/..` },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    uploaders: { type: 'string', default: '2' },
    users: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const durationMs = Number(values.duration) * 1000;
const root = values.root;
const dataDir = mkdtempSync(join(tmpdir(), 'usermgr-bench-pictures-'));
const imagesDir = mkdtempSync(join(tmpdir(), 'usermgr-bench-hostile-'));
const tcpPort = 17_000 + Math.floor(Math.random() * 1000);
const httpPort = tcpPort + 1000;
const url = `http://127.0.0.1:${httpPort}`;
const PASSWORD = 'correct horse battery staple';

const made = Bun.spawnSync([process.execPath, 'test/support/images.ts', imagesDir], {
  cwd: `${import.meta.dir}/..`,
  stderr: 'inherit',
});
const hostile = (JSON.parse(made.stdout.toString()) as HostileImage[]).map((h) => ({
  ...h,
  bytes: readFileSync(join(imagesDir, h.file)),
}));

const common = {
  DATA_DIR: dataDir,
  MYSQL_URL: '',
  REDIS_URL: '',
  LOG_LEVEL: 'warn',
  ARGON2_MEMORY_KIB: '19456',
  RATE_LIMIT_IP_PER_S: '100000000',
  RATE_LIMIT_IP_BURST: '100000000',
  PICTURE_UPLOAD_BURST: '1000000',
  HTTP_PROCESSES: '1',
};
const start = (name: string, script: string, env: Record<string, string>): Server =>
  startServer(name, script, { ...common, ...env }, '', root);

const tcp = start('tcp', 'src/tcp/main.ts', { TCP_PORT: String(tcpPort), TCP_METRICS_PORT: '0' });
await waitForPort(tcpPort, [tcp]);
const http = start('http', 'src/http/main.ts', {
  HTTP_PORT: String(httpPort),
  HTTP_METRICS_PORT: '0',
  TCP_ADDRS: `127.0.0.1:${tcpPort}`,
});
const servers = [tcp, http];

const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Registers user `name` and logs it in once; its token. Slow hashes run at nice 19: retried. */
async function newUser(name: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await post('/open_api/v1/register', { username: name, password: PASSWORD });
    const res = await post('/open_api/v1/authenticate', { username: name, password: PASSWORD });
    if (res.status === 200) return ((await res.json()) as { token: string }).token;
    if (attempt === 5) throw new Error(`login of ${name}: ${res.status}`);
  }
}

interface Phase {
  name: string;
  p50_ms: number;
  p99_ms: number;
  logins: number;
  errors: number;
  tcp_cpu_s: number;
  tcp_rss_peak_mb: number;
  uploads: Record<string, number>;
}

async function phase(name: string, loginUsers: string[], uploaders: string[]): Promise<Phase> {
  const until = performance.now() + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  const uploads: Record<string, number> = {};
  let rssPeak = rssMb(tcp.proc.pid);
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMb(tcp.proc.pid));
  }, 100);
  const cpu = cpuSeconds(tcp.proc.pid);
  let next = 0;
  const login = async () => {
    while (performance.now() < until) {
      const username = loginUsers[next++ % loginUsers.length] as string;
      const started = performance.now();
      const res = await post('/open_api/v1/authenticate', { username, password: PASSWORD });
      await res.arrayBuffer();
      latencies.push(performance.now() - started);
      if (res.status !== 200) errors++;
    }
  };
  const upload = async (token: string, first: number) => {
    for (let i = first; performance.now() < until; i++) {
      const image = hostile[i % hostile.length] as (typeof hostile)[number];
      const res = await fetch(`${url}/api/v1/me/picture`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body: image.bytes,
      }).catch(() => null);
      await res?.arrayBuffer();
      const status = res?.status ?? 0;
      const key = status === 200 || status === 400 ? String(status) : `${status} ${image.file}`;
      uploads[key] = (uploads[key] ?? 0) + 1;
    }
  };
  await Promise.all([
    ...Array.from({ length: Number(values.connections) }, login),
    ...uploaders.map((token, i) => upload(token, i * 5)),
  ]);
  clearInterval(sampler);
  const summary = latencySummary(latencies);
  return {
    name,
    p50_ms: summary.p50_ms,
    p99_ms: summary.p99_ms,
    logins: latencies.length,
    errors,
    tcp_cpu_s: Math.round((cpuSeconds(tcp.proc.pid) - cpu) * 100) / 100,
    tcp_rss_peak_mb: rssPeak,
    uploads,
  };
}

try {
  await waitUntilReady(`${url}/readyz`, servers);
  const run = Date.now().toString(36);
  const loginUsers: string[] = [];
  for (let i = 0; i < Number(values.users); i++) {
    const name = `bench_${run}_${i}`;
    await newUser(name); // registered and logged in once: warm
    loginUsers.push(name);
  }
  const uploaders = await Promise.all(
    Array.from({ length: Number(values.uploaders) }, (_, i) => newUser(`up_${run}_${i}`)),
  );
  await phase('warm-up', loginUsers, []);
  // Alternating, so that the machine's drift falls on both kinds alike.
  const phases: Phase[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    phases.push(await phase('alone', loginUsers, []));
    phases.push(await phase('beside uploads', loginUsers, uploaders));
  }
  for (const p of phases) {
    console.log(
      `${p.name.padEnd(15)} logins p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms (${p.logins}, ${p.errors} non-200); ` +
        `tcp cpu ${p.tcp_cpu_s} s, rss peak ${p.tcp_rss_peak_mb} MB; uploads ${JSON.stringify(p.uploads)}`,
    );
  }
  const median = (name: string) => {
    const p99s = phases.filter((p) => p.name === name).map((p) => p.p99_ms);
    return p99s.sort((a, b) => a - b)[Math.floor(p99s.length / 2)] as number;
  };
  const [alone, beside] = [median('alone'), median('beside uploads')];
  const ratio = Math.round((beside / alone) * 100) / 100;
  console.log(`median p99 alone ${alone} ms, beside uploads ${beside} ms: ratio ${ratio}`);
  const warnings = serverWarnings(servers);
  console.log(`server warnings (lines logged, by message): ${JSON.stringify(warnings)}`);
  console.log(
    JSON.stringify({ root, alone_p99_ms: alone, beside_p99_ms: beside, ratio, phases, warnings }),
  );
} finally {
  await stopServers(servers);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(imagesDir, { recursive: true, force: true });
}
