/**
 * A 3-node Redis Cluster of the test's own on 127.0.0.1: three
 * `redis-server --cluster-enabled yes` on free ports in a temporary
 * directory, joined with `redis-cli --cluster create`, no replicas.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { freePort } from './redis.ts';

export interface RedisCluster {
  nodes: string[];
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  for (const tool of ['redis-server', 'redis-cli']) {
    if (Bun.which(tool) === null)
      throw new Error(`${tool} is not installed: apt-get install -y redis-server`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  // The bus ports too: by default each is its port + 10,000, which may be taken.
  const busPorts = [await freePort(), await freePort(), await freePort()];
  const procs: Subprocess[] = ports.map((port, i) =>
    Bun.spawn(
      [
        'redis-server',
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--cluster-port',
        String(busPorts[i]),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdout: Bun.file(join(dir, `node-${port}.log`)), stderr: 'ignore' },
    ),
  );
  const nodes = ports.map((port) => `127.0.0.1:${port}`);
  const stop = async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports)
      await until(
        () => cli(port, 'ping') === 'PONG',
        () => `node ${port} did not start: ${lastLines(join(dir, `node-${port}.log`))}`,
      );
    const create = Bun.spawnSync(
      ['redis-cli', '--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'],
      { stderr: 'pipe' },
    );
    if (create.exitCode !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      await until(
        () => cli(port, 'cluster', 'info').includes('cluster_state:ok'),
        `cluster not ok on ${port}`,
      );
    }
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function cli(port: number, ...args: string[]): string {
  return Bun.spawnSync(['redis-cli', '-p', String(port), ...args])
    .stdout.toString()
    .trim();
}

async function until(
  check: () => boolean,
  message: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(typeof message === 'string' ? message : message());
    await Bun.sleep(50);
  }
}

/** The end of a node's log, to say why it did not start. */
function lastLines(path: string): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join(' | ');
}
