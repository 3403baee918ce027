/**
 * Where the HTTP server's CPU per login goes, one layer at a time. Each run
 * measures, one after the other, with wrk posting the same login:
 *   baseline   the bare Hono JSON POST (bench/baseline-server.ts);
 *   app-now    the real app (routing, middleware, validation, cookie,
 *              metrics) with a stub RPC client answering in the same turn;
 *   app-later  the same, the stub answering in a later turn, many at once
 *              (as answers arrive from the pool);
 *   pool       the real HTTP server (pool, framing, protobuf) in front of a
 *              TCP server whose login answers at once (bench/stub-tcp-server.ts).
 * The HTTP process is metered (and, for `pool`, the stub TCP server too); one
 * HTTP process each. Medians of --runs. `--variants pool` runs only those named.
 * With TCP_SHARED_SECRET in the environment, `pool` runs with the handshake.
 *
 *   npm run bench:http-alone -- [--runs 3] [--duration 10] [--connections 1000] [--variants a,b]
 */
import { parseArgs } from 'node:util';
import {
  CpuMeter,
  type Server,
  startServer,
  stopServers,
  waitForPort,
  waitUntilReady,
} from './procs.ts';
import { type BenchRequest, runWrk } from './wrk.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1000' },
    threads: { type: 'string', default: '2' },
    'http-port': { type: 'string', default: '18085' },
    'tcp-port': { type: 'string', default: '19095' },
    variants: { type: 'string', default: 'baseline,app-now,app-later,pool' },
  },
});
const chosen = new Set((values.variants as string).split(','));
const runs = Number(values.runs);
const durationS = Number(values.duration);
const connections = Number(values.connections);
const threads = Number(values.threads);
const httpPort = values['http-port'] as string;
const tcpPort = values['tcp-port'] as string;
const url = `http://127.0.0.1:${httpPort}`;

const body = JSON.stringify({ username: 'user17', password: 'Passw0rd-17' });
const login: BenchRequest = {
  method: 'POST',
  path: '/open_api/v1/authenticate',
  headers: { 'Content-Type': 'application/json' },
  body,
};

interface Variant {
  name: string;
  request: BenchRequest;
  /** Starts what the variant needs; the first server is the HTTP one that is metered. */
  start(): Promise<Server[]>;
}

const quiet = { LOG_LEVEL: 'warn', HTTP_PORT: httpPort };
const variants: Variant[] = [
  {
    name: 'baseline',
    request: { ...login, path: '/baseline' },
    start: async () => [startServer('baseline', 'bench/baseline-server.ts', quiet)],
  },
  {
    name: 'app-now',
    request: login,
    start: async () => [
      startServer('http', 'bench/stub-rpc-http-server.ts', { ...quiet, STUB_ANSWER: 'now' }),
    ],
  },
  {
    name: 'app-later',
    request: login,
    start: async () => [
      startServer('http', 'bench/stub-rpc-http-server.ts', { ...quiet, STUB_ANSWER: 'next-turn' }),
    ],
  },
  {
    name: 'pool',
    request: login,
    async start() {
      const tcp = startServer('tcp', 'bench/stub-tcp-server.ts', { ...quiet, TCP_PORT: tcpPort });
      await waitForPort(Number(tcpPort), [tcp]);
      const http = startServer('http', 'src/http/main.ts', {
        ...quiet,
        TCP_ADDRS: `127.0.0.1:${tcpPort}`,
        METRICS_ENABLED: 'true',
        HTTP_METRICS_PORT: '0',
      });
      return [http, tcp];
    },
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const results = new Map<string, { rps: number[]; us: number[]; tcpUs: number[] }>();
for (let run = 1; run <= runs; run++) {
  for (const variant of variants.filter((v) => chosen.has(v.name))) {
    const servers = await variant.start();
    try {
      await waitUntilReady(`${url}/readyz`, servers);
      const requests = [variant.request];
      await runWrk({ url, connections, threads, durationS: 3, requests });
      const pid = (servers[0] as Server).proc.pid;
      const tcpPid = servers[1]?.proc.pid;
      const meter = new CpuMeter({
        http: () => [pid],
        tcp: () => (tcpPid === undefined ? [] : [tcpPid]),
      });
      meter.start();
      const result = await runWrk({ url, connections, threads, durationS, requests });
      const cpu = meter.stop();
      const percent = cpu.http ?? 0;
      if (result.non2xx > 0 || result.socket_errors > 0) {
        throw new Error(
          `${variant.name}: ${result.non2xx} non-2xx and ${result.socket_errors} socket errors`,
        );
      }
      const us = (percent / 100 / result.rps) * 1e6;
      const tcpUs = ((cpu.tcp ?? 0) / 100 / result.rps) * 1e6;
      const entry = results.get(variant.name) ?? { rps: [], us: [], tcpUs: [] };
      entry.rps.push(result.rps);
      entry.us.push(us);
      entry.tcpUs.push(tcpUs);
      results.set(variant.name, entry);
      const tcpText = tcpPid === undefined ? '' : `; TCP server ${tcpUs.toFixed(1)} µs`;
      console.log(
        `run ${run}/${runs} ${variant.name}: ${Math.round(result.rps)} req/s, HTTP server ${percent} % of a core, ${us.toFixed(1)} µs per request${tcpText}`,
      );
    } finally {
      await stopServers(servers);
    }
  }
}

console.log(`\nmedians of ${runs} runs (${connections} connections, ${durationS} s each):`);
const summary: Record<string, { rps: number; us_per_request: number; tcp_us?: number }> = {};
for (const [name, { rps, us, tcpUs }] of results) {
  summary[name] = { rps: Math.round(median(rps)), us_per_request: Number(median(us).toFixed(1)) };
  const tcp = name === 'pool' ? ` (TCP server ${median(tcpUs).toFixed(1)} µs)` : '';
  if (name === 'pool') summary[name].tcp_us = Number(median(tcpUs).toFixed(1));
  console.log(
    `  ${name.padEnd(10)} ${summary[name].rps.toLocaleString('en-US').padStart(7)} req/s  ${summary[name].us_per_request.toFixed(1).padStart(5)} µs per request${tcp}`,
  );
}
console.log(JSON.stringify(summary));
