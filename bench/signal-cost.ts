/**
 * `bun bench/signal-cost.ts [--rounds 3] [--duration 5]`
 *
 * What carrying the caller's AbortSignal costs, in CPU microseconds per
 * request, each pair measured in turn in every round:
 *   serve     a bare Bun.serve answering "ok", against the same reading
 *             `request.signal` (Bun makes it on first use), driven by wrk
 *             (1 thread, 50 connections); the server's process is metered;
 *   pool      100,000 Pings through the real pool to a real TCP server in
 *             this process (200 callers in a closed loop), against the same
 *             with an AbortSignal of its own on every call.
 * Only CPU time of this process is counted, so other load on the machine
 * shifts the figures less than it shifts throughput.
 */
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/log.ts';
import { createRpcClient } from '../src/rpc/client.ts';
import { Pool } from '../src/rpc/pool.ts';
import { createDispatch } from '../src/tcp/dispatch.ts';
import { startTcpServer } from '../src/tcp/server.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);

function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

async function serve(readSignal: boolean): Promise<number> {
  const server = Bun.serve({
    port: 0,
    fetch(request) {
      if (readSignal && request.signal.aborted) return new Response('gone');
      return new Response('ok');
    },
  });
  const wrk = async (seconds: number) => {
    const url = `http://127.0.0.1:${server.port}/`;
    const child = Bun.spawn(['wrk', '-t1', '-c50', `-d${seconds}s`, url]);
    const out = await new Response(child.stdout).text();
    await child.exited;
    return Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  };
  await wrk(1);
  const since = process.cpuUsage();
  const requests = await wrk(durationS);
  const micros = cpuMicros(since);
  await server.stop(true);
  return micros / requests;
}

async function pool(withSignal: boolean): Promise<number> {
  const server = startTcpServer(
    {
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 8 << 20,
      maxConnections: 100,
      maxInFlightPerConnection: 100_000,
      maxBufferedBytesPerConnection: 64 << 20,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 10_000,
    },
    createDispatch({ ping: () => ({ serverId: 'bench' }) }, silentLogger),
    silentLogger,
  );
  const p = new Pool(
    {
      addresses: [`127.0.0.1:${server.port}`],
      socketsPerAddress: 2,
      maxInFlightPerSocket: 4096,
      maxWaiting: 100_000,
      maxQueuedBytesPerSocket: 32 << 20,
      maxFrameBytes: 8 << 20,
      connectTimeoutMs: 1000,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
    },
    silentLogger,
  );
  const rpc = createRpcClient(p, 5000);
  const calls = async (n: number) => {
    let left = n;
    const caller = async () => {
      while (left-- > 0)
        await rpc.call('ping', {}, withSignal ? { signal: new AbortController().signal } : {});
    };
    await Promise.all(Array.from({ length: 200 }, caller));
  };
  await calls(20_000);
  const since = process.cpuUsage();
  await calls(100_000);
  const micros = cpuMicros(since);
  p.close();
  await server.stop(0);
  return micros / 100_000;
}

const rows: Record<string, number[]> = {};
const record = (name: string, value: number) => {
  rows[name] ??= [];
  rows[name].push(value);
};
for (let round = 1; round <= rounds; round++) {
  record('serve', await serve(false));
  record('serve + request.signal', await serve(true));
  record('pool', await pool(false));
  record('pool + signal per call', await pool(true));
  console.log(`round ${round} done`);
}
for (const [name, values] of Object.entries(rows)) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  console.log(
    `${name.padEnd(24)} ${median.toFixed(2)} µs CPU per request (runs: ${values.map((v) => v.toFixed(2)).join(' / ')})`,
  );
}
