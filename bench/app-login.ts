/**
 * CPU per login of the HTTP application alone, in process: createApp with a
 * stub RPC client, the login request handed to app.fetch, no sockets. What
 * a change to routing, middleware, validation or cookies costs, without the
 * scheduler noise of a load generator on a busy machine. Prints the median
 * of --rounds rounds of --requests logins each, in µs of process CPU (user +
 * system) per login; run it alternately on two checkouts to compare them.
 *
 *   bun bench/app-login.ts [--rounds 9] [--requests 50000]
 */
import { parseArgs } from 'node:util';
import { loadHttpConfig } from '../src/config/http-config.ts';
import { createApp } from '../src/http/app.ts';
import { createHttpMetrics } from '../src/http/metrics.ts';
import { silentLogger } from '../src/log.ts';
import type { RpcClient } from '../src/rpc/client.ts';
import type { Pool } from '../src/rpc/pool.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    requests: { type: 'string', default: '50000' },
  },
});
const token = 'x'.repeat(150);
const rpc = {
  async call() {
    return { token, expiresAtMs: BigInt(Date.now() + 86_400_000) };
  },
} as unknown as RpcClient;
const metrics = createHttpMetrics({ stats: () => ({}) } as unknown as Pool);
const app = createApp({
  rpc,
  http: loadHttpConfig({}).http,
  log: silentLogger,
  metrics: metrics.registry,
});
const body = JSON.stringify({ username: 'user17', password: 'Passw0rd-17' });
const login = () =>
  new Request('http://127.0.0.1/open_api/v1/authenticate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

async function round(requests: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const res = await app.fetch(login());
    if (res.status !== 200) throw new Error(`login answered ${res.status}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

await round(5000); // warm up the JIT
const perLogin: number[] = [];
for (let i = 0; i < Number(values.rounds); i++) perLogin.push(await round(Number(values.requests)));
perLogin.sort((a, b) => a - b);
const median = perLogin[Math.floor(perLogin.length / 2)] ?? 0;
console.log(
  JSON.stringify({
    us_per_login: Number(median.toFixed(2)),
    rounds: perLogin.map((v) => +v.toFixed(2)),
  }),
);
