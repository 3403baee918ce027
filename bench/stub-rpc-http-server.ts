/**
 * The real HTTP application (createApp: routing, middleware, validation,
 * cookies, metrics) on Bun.serve, with the RPC client replaced by a stub that
 * answers every login at once: what the HTTP server costs without the pool,
 * the sockets and protobuf. STUB_ANSWER=now answers in the same turn;
 * STUB_ANSWER=next-turn answers from one setImmediate per turn, as answers
 * come from the pool (many at once, in a later turn). For bench/http-alone.ts.
 */
import { loadHttpConfig } from '../src/config/http-config.ts';
import { createApp } from '../src/http/app.ts';
import { createHttpMetrics } from '../src/http/metrics.ts';
import { silentLogger } from '../src/log.ts';
import type { RpcClient } from '../src/rpc/client.ts';
import type { Pool } from '../src/rpc/pool.ts';

const config = loadHttpConfig({});
const token = 'x'.repeat(150);
const nextTurn = process.env.STUB_ANSWER === 'next-turn';
let waiting: (() => void)[] = [];

function later(): Promise<void> {
  return new Promise((resolve) => {
    if (waiting.length === 0) {
      setImmediate(() => {
        const batch = waiting;
        waiting = [];
        for (const wake of batch) wake();
      });
    }
    waiting.push(resolve);
  });
}

const rpc = {
  async call(name: string) {
    if (name !== 'login' && name !== 'ping') throw new Error(`the stub answers login, not ${name}`);
    if (nextTurn) await later();
    return { token, expiresAtMs: BigInt(Date.now() + 86_400_000) };
  },
} as unknown as RpcClient;
const metrics = createHttpMetrics({ stats: () => ({}) } as unknown as Pool);
const app = createApp({ rpc, http: config.http, log: silentLogger, metrics: metrics.registry });
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.HTTP_PORT ?? 18082),
  fetch: app.fetch,
  development: false,
});
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
