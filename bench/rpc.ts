/**
 * `npm run bench:rpc -- [--duration 10] [--concurrency 1000] [--sockets 2] [--runs 3] [--signal]`
 *
 * Round trips per second through the pool to a TCP server (Ping), closed
 * loop: `concurrency` callers each send the next Ping as soon as the last one
 * is answered. The TCP server runs as its own process, as in production, so
 * the two processes share the machine's cores the way they would for real.
 * Prints a summary per run and, last, one JSON line with the median run.
 * With --signal every call carries an AbortSignal of its own, as the HTTP
 * server's calls carry their request's (the cost of cancellation support).
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log.ts';
import { RUNTIME_ENV } from '../src/process.ts';
import { createRpcClient } from '../src/rpc/client.ts';
import { Pool } from '../src/rpc/pool.ts';
import { latencySummary } from './stats.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1000' },
    sockets: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    port: { type: 'string', default: '19390' },
    signal: { type: 'boolean', default: false },
  },
});
const durationS = Number(values.duration);
const concurrency = Number(values.concurrency);
const sockets = Number(values.sockets);
const runs = Number(values.runs);
const port = Number(values.port);

const server = Bun.spawn([process.execPath, `${import.meta.dir}/../src/tcp/main.ts`], {
  env: {
    ...RUNTIME_ENV,
    ...process.env,
    TCP_PORT: String(port),
    TCP_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});

const pool = new Pool(
  {
    addresses: [`127.0.0.1:${port}`],
    socketsPerAddress: sockets,
    maxInFlightPerSocket: 8192,
    maxWaiting: 100_000,
    maxQueuedBytesPerSocket: 64 << 20,
    maxFrameBytes: 8 << 20,
    connectTimeoutMs: 2000,
    backoffBaseMs: 20,
    backoffMaxMs: 500,
  },
  createLogger('bench-rpc', 'warn'),
);
const rpc = createRpcClient(pool, 5000);

async function waitForServer(): Promise<void> {
  const until = performance.now() + 10_000;
  for (;;) {
    try {
      await rpc.call('ping', {});
      return;
    } catch (err) {
      if (performance.now() > until) throw err;
      await Bun.sleep(50);
    }
  }
}

async function run(seconds: number) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  async function caller() {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await rpc.call('ping', {}, values.signal ? { signal: new AbortController().signal } : {});
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = (performance.now() - started) / 1000;
  return { rps: Math.round(latencies.length / elapsed), errors, ...latencySummary(latencies) };
}

try {
  await waitForServer();
  await run(2); // warm-up: JIT, socket buffers
  const results = [];
  for (let i = 0; i < runs; i++) {
    const result = await run(durationS);
    results.push(result);
    console.log(
      `run ${i + 1}: ${result.rps} round trips/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, errors ${result.errors}`,
    );
  }
  const median = [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)];
  console.log(
    JSON.stringify({
      scenario: 'rpc-ping',
      signal: values.signal,
      concurrency,
      sockets,
      duration_s: durationS,
      runs,
      ...median,
    }),
  );
} finally {
  pool.close();
  server.kill('SIGTERM');
  await server.exited;
}
