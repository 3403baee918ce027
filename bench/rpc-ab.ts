/**
 * The pool and the TCP server, A/B in one process: for each source tree (a
 * checkout of this repository, e.g. `git worktree add` of another commit),
 * its own TCP server, whose only service answers every login at once, and
 * its own pool in front of it; the trees take turns in interleaved rounds.
 * Two figures per tree, CPU time of this process (both ends together):
 *   per login       logins through the pool by `--callers` callers in a closed
 *                   loop: framing, protobuf, the pool, the server's socket path;
 *   per connection  a new pool opening `--sockets` sockets and making one call,
 *                   minus one login: the connect (and, where the tree has one,
 *                   the handshake) per socket.
 * With `--secret`, trees that know TCP_SHARED_SECRET run with it on both ends
 * (older trees ignore it), so the handshake is in the second figure. With
 * `--key on`, every login carries its username as its routing key (trees
 * without affinity ignore it), so a tree's keyed path with one server is
 * what is measured.
 *
 *   bun bench/rpc-ab.ts [--rounds 10] [--logins 100000] [--callers 200] [--pools 200]
 *     [--sockets 2] [--secret S] [--key on|off] <tree> <tree> ...
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '10' },
    logins: { type: 'string', default: '100000' },
    callers: { type: 'string', default: '200' },
    pools: { type: 'string', default: '200' },
    sockets: { type: 'string', default: '2' },
    secret: { type: 'string', default: '' },
    key: { type: 'string', default: 'off' },
  },
});
const rounds = Number(values.rounds);
const logins = Number(values.logins);
const callers = Number(values.callers);
const pools = Number(values.pools);
const sockets = Number(values.sockets);
const secret = values.secret as string;
const options = values.key === 'on' ? { key: 'user17' } : {};
if (positionals.length === 0) throw new Error('name at least one source tree');

interface Rpc {
  call(name: string, input: unknown, options?: { key?: string }): Promise<unknown>;
}
interface PoolLike {
  close(): void;
}

interface Tree {
  name: string;
  /** A new pool to the tree's server and its client. */
  connect(): { pool: PoolLike; rpc: Rpc };
}

/** The tree's own server, pool and client, options spelled as the tree takes them. */
async function treeOf(path: string): Promise<Tree> {
  const root = resolve(path);
  const { Pool } = await import(`${root}/src/rpc/pool.ts`);
  const { createRpcClient } = await import(`${root}/src/rpc/client.ts`);
  const { startTcpServer } = await import(`${root}/src/tcp/server.ts`);
  const { createDispatch } = await import(`${root}/src/tcp/dispatch.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const token = 'x'.repeat(150);
  const server = startTcpServer(
    {
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 8 << 20,
      maxConnections: 10_000,
      maxInFlightPerConnection: 100_000,
      maxBufferedBytesPerConnection: 64 << 20,
      maxPartialFrameBytes: 256 << 20,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      minFrameBytesPerS: 65_536,
      sharedSecrets: secret === '' ? [] : [secret],
    },
    createDispatch(
      { login: () => ({ token, expiresAtMs: BigInt(Date.now() + 86_400_000) }) },
      silentLogger,
    ),
    silentLogger,
  );
  return {
    name: path,
    connect() {
      const pool = new Pool(
        {
          addresses: [`127.0.0.1:${server.port}`],
          socketsPerAddress: sockets,
          maxInFlightPerSocket: 8192,
          maxWaiting: 100_000,
          maxQueuedBytesPerSocket: 64 << 20,
          maxFrameBytes: 8 << 20,
          connectTimeoutMs: 2000,
          backoffBaseMs: 20,
          backoffMaxMs: 500,
          sharedSecret: secret,
        },
        silentLogger,
      );
      return { pool, rpc: createRpcClient(pool, 5000) };
    },
  };
}

const input = { username: 'user17', password: 'Passw0rd-17' };

function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/** CPU µs per login through one warm pool, `n` logins by `callers` callers. */
async function perLogin(rpc: Rpc, n: number): Promise<number> {
  let left = n;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (left-- > 0) await rpc.call('login', input, options);
    }),
  );
  return cpuMicros(before) / n;
}

/** CPU µs per socket to open a pool and make its first call, less one login. */
async function perConnection(tree: Tree, loginUs: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < pools; i++) {
    const { pool, rpc } = tree.connect();
    // One call per socket, at once: each socket opens (and handshakes) before it serves.
    await Promise.all(Array.from({ length: sockets }, () => rpc.call('login', input)));
    pool.close();
  }
  return (cpuMicros(before) / pools - loginUs * sockets) / sockets;
}

const trees = await Promise.all(positionals.map(treeOf));
const warm = trees.map((tree) => tree.connect());
for (const [i, tree] of trees.entries()) {
  await perLogin((warm[i] as { rpc: Rpc }).rpc, Math.min(logins, 20_000));
  await perConnection(tree, 0);
}
const samples = trees.map(() => ({ login: [] as number[], connection: [] as number[] }));
for (let round = 0; round < rounds; round++) {
  // Each round starts with another tree, so no tree always runs first.
  for (let k = 0; k < trees.length; k++) {
    const i = (round + k) % trees.length;
    const login = await perLogin((warm[i] as { rpc: Rpc }).rpc, logins);
    const connection = await perConnection(trees[i] as Tree, login);
    samples[i]?.login.push(login);
    samples[i]?.connection.push(connection);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const summary = trees.map((tree, i) => ({
  tree: tree.name,
  login_us: Number(median(samples[i]?.login ?? []).toFixed(2)),
  best_login_us: Number(Math.min(...(samples[i]?.login ?? [])).toFixed(2)),
  connection_us: Number(median(samples[i]?.connection ?? []).toFixed(1)),
  /** Every round's figure, in round order: the trees' figures of one round were taken together. */
  logins_us: (samples[i]?.login ?? []).map((us) => Number(us.toFixed(2))),
}));
for (const s of summary) {
  console.log(
    `${s.tree.padEnd(30)} per login: median ${s.login_us.toFixed(2)} µs, best ${s.best_login_us.toFixed(2)}; per connection: median ${s.connection_us.toFixed(1)} µs`,
  );
}
console.log(JSON.stringify({ rounds, logins, callers, pools, sockets, summary }));
process.exit(0);
