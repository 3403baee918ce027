/**
 * The HTTP application alone, A/B in one process: the apps of several source
 * trees (each a checkout of this repository, for example `git worktree add`
 * of two commits) serve the same login through `app.fetch`, with a stub RPC
 * client answering at once, in interleaved rounds. CPU time of this process
 * per request, median and best per tree, and the median over the rounds of
 * each tree's figure over the first tree's in the same round. Interleaving in one process cancels
 * most of the drift of a shared machine that separate runs suffer.
 *
 *   bun bench/app-ab.ts [--rounds 12] [--requests 40000] <tree> <tree> ...
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { interleavedRounds, printSummary, summarize } from './ab-rounds.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '12' },
    requests: { type: 'string', default: '40000' },
  },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
if (positionals.length === 0) throw new Error('name at least one source tree');

type Fetch = (req: Request, server: unknown) => Response | Promise<Response>;

/**
 * What Bun.serve passes as the second argument of fetch, as far as the app
 * uses it: the client's address. Without it the app's lookup of the address
 * throws and catches on every request, which a served request never does.
 */
const server = {
  requestIP: () => ({ address: '127.0.0.1', family: 'IPv4', port: 40000 }),
};

/**
 * What createApp takes as configuration in the tree: the HTTP section of
 * the HTTP server's own configuration (src/config/), or in trees from before
 * the configuration was split per process, the one object of src/config.ts.
 */
async function configOf(root: string): Promise<Record<string, unknown>> {
  if (await Bun.file(`${root}/src/config/http-config.ts`).exists()) {
    const { loadHttpConfig } = await import(`${root}/src/config/http-config.ts`);
    return { http: loadHttpConfig({}).http };
  }
  const { loadConfig } = await import(`${root}/src/config.ts`);
  return { config: loadConfig({}) };
}

/** The tree's own createApp, config, logger and metrics, as bench/stub-rpc-http-server.ts builds them. */
async function appOf(tree: string): Promise<Fetch> {
  const root = resolve(tree);
  const { createApp } = await import(`${root}/src/http/app.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const { createHttpMetrics } = await import(`${root}/src/http/metrics.ts`);
  const token = 'x'.repeat(150);
  const rpc = {
    async call(name: string) {
      if (name !== 'login') throw new Error(`the stub answers login, not ${name}`);
      return { token, expiresAtMs: BigInt(Date.now() + 86_400_000) };
    },
  };
  const metrics = createHttpMetrics({ stats: () => ({}) });
  const app = createApp({
    rpc,
    ...(await configOf(root)),
    log: silentLogger,
    metrics: metrics.registry,
  });
  return app.fetch;
}

const body = JSON.stringify({ username: 'user17', password: 'Passw0rd-17' });
const login = () =>
  new Request('http://127.0.0.1/open_api/v1/authenticate', {
    method: 'POST',
    // As an HTTP client sends it: with its length (a body without one is read as chunked).
    headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    body,
  });

/** CPU microseconds of this process per request, over `n` logins. */
async function measure(fetch: Fetch, n: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await fetch(login(), server);
    if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

const apps = await Promise.all(positionals.map(appOf));
for (const fetch of apps) await measure(fetch, Math.min(requests, 5000)); // warm-up
const samples = await interleavedRounds(apps.length, rounds, (i) =>
  measure(apps[i] as Fetch, requests),
);
printSummary('login', summarize(positionals, samples), { rounds, requests });
