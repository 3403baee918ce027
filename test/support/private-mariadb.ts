/**
 * A MariaDB server of the test's own, which it may kill, restart and pause:
 * a fresh data directory (mariadb-install-db) under a temporary directory, a
 * mariadbd on a free port of 127.0.0.1 with a small buffer pool and nothing
 * made durable (startup in about a second), root with an empty password.
 * The shared server on 3306 is never touched. Every process is tracked by an
 * orphan guard, so it dies with the test process whatever happens.
 */
import { mkdirSync } from 'node:fs';
import type { Subprocess } from 'bun';
import mysql from 'mysql2/promise';
import { type Guard, guardProcesses } from './orphans.ts';
import { freePort } from './redis.ts';

export interface PrivateMariadb {
  port: number;
  /** mysql://root@127.0.0.1:<port>/<database> */
  url: string;
  /** SIGKILL: no shutdown, crash recovery at the next start. */
  kill(): Promise<void>;
  /** Starts mariadbd again on the same data and port; resolves once it answers. */
  start(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Kills it and removes its data. */
  stop(): Promise<void>;
}

const INSTALL_HINT = 'apt-get install -y mariadb-server';

function requireBinary(name: string, where: string[]): string {
  const found = Bun.which(name) ?? where.find((path) => Bun.file(path).size > 0);
  if (!found) throw new Error(`${name} is not installed: ${INSTALL_HINT}`);
  return found;
}

export interface PrivateMariadbOptions {
  /** More mariadbd options, for every start (not for mariadb-install-db). */
  serverOptions?: string[];
  /** false: leave the database to someone else (a replica receives it from its primary). */
  createDatabase?: boolean;
}

/** Creates a data directory with `database` in it and starts mariadbd on it. */
export async function startPrivateMariadb(
  database = 'usermgr',
  options: PrivateMariadbOptions = {},
): Promise<PrivateMariadb> {
  const installDb = requireBinary('mariadb-install-db', ['/usr/bin/mariadb-install-db']);
  const mariadbd = requireBinary('mariadbd', ['/usr/sbin/mariadbd']);
  const guard: Guard = guardProcesses('mariadb');
  const datadir = `${guard.dir}/data`;
  // Its own temporary directory: in the shared /tmp, mariadb-install-db was seen to
  // lose its temporary tables ("Unknown table 'mysql.tmp_user_sys'") while other
  // servers started beside it.
  const tmpdir = `${guard.dir}/tmp`;
  mkdirSync(tmpdir);
  const port = await freePort();
  // Small and not durable: this server exists to be killed.
  const serverOptions = [
    `--tmpdir=${tmpdir}`,
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-doublewrite=0',
    '--performance-schema=OFF',
    '--skip-name-resolve',
    '--user=root',
  ];
  try {
    const install = Bun.spawn(
      [
        installDb,
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...serverOptions,
      ],
      { stdout: 'ignore', stderr: 'pipe' },
    );
    guard.track(install.pid);
    const timer = setTimeout(() => install.kill('SIGKILL'), 60_000);
    const code = await install.exited;
    clearTimeout(timer);
    guard.untrack(install.pid);
    if (code !== 0) {
      const err = await new Response(install.stderr).text();
      throw new Error(`mariadb-install-db failed (${code}): ${err.slice(-2000)}`);
    }
  } catch (err) {
    guard.release();
    throw err;
  }

  let proc: Subprocess | null = null;
  const base = `mysql://root@127.0.0.1:${port}/`;

  async function answers(): Promise<boolean> {
    try {
      const connection = await mysql.createConnection({ uri: base, connectTimeout: 1000 });
      await connection.end();
      return true;
    } catch {
      return false;
    }
  }

  async function start(): Promise<void> {
    proc = Bun.spawn(
      [
        mariadbd,
        '--no-defaults',
        `--datadir=${datadir}`,
        `--socket=${guard.dir}/mysqld.sock`,
        `--pid-file=${guard.dir}/mysqld.pid`,
        `--log-error=${guard.dir}/error.log`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--max-connections=500',
        ...serverOptions,
        ...(options.serverOptions ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    guard.track(proc.pid);
    const until = performance.now() + 30_000;
    while (performance.now() < until) {
      if (proc.exitCode !== null) break;
      if (await answers()) return;
      await Bun.sleep(50);
    }
    const log = await Bun.file(`${guard.dir}/error.log`)
      .text()
      .catch(() => '');
    throw new Error(`private mariadbd on port ${port} did not start:\n${log.slice(-2000)}`);
  }

  async function kill(): Promise<void> {
    const running = proc;
    if (running === null) return;
    proc = null;
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await running.exited;
    guard.untrack(running.pid);
  }

  try {
    await start();
    if (options.createDatabase !== false) {
      const admin = await mysql.createConnection({ uri: base });
      await admin.query(
        `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      );
      await admin.end();
    }
  } catch (err) {
    guard.release();
    throw err;
  }
  return {
    port,
    url: `${base}${database}`,
    kill,
    start,
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    async stop() {
      await kill();
      guard.release();
    },
  };
}
