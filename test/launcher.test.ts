/**
 * `npm start` (src/main.ts) end to end on SQLite: the TCP server and the
 * HTTP servers as child processes, several HTTP servers sharing one port,
 * a sign-up and a login through them, and SIGTERM stopping every process.
 * Then the first run as a newcomer meets it: one launcher per port, "usermgr
 * is up" only once the stack is ready, known start-up failures in one line,
 * `.env.example` copied with another port, and the README's curl example.
 */
import { afterAll, describe, expect, it } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/log.ts';
import { RUNTIME_ENV } from '../src/process.ts';
import { loadMigrations, migrate, migrationsDir } from '../src/store/migrate.ts';
import { mysqlMigrationTarget } from '../src/store/mysql/migration-target.ts';
import { Status } from '../src/wire/status.ts';
import { jsonInit } from './fixture.ts';
import { jpeg } from './support/images.ts';
import { createTestDatabase, TEST_MYSQL_URL, withAdmin } from './support/mysql.ts';
import { guardProcesses } from './support/orphans.ts';
import { pingFrame, rawClient } from './support/raw.ts';
import { freePort } from './support/redis.ts';
import { type Server, spawnServer } from './support/servers.ts';

const root = join(import.meta.dir, '..');
// Kills the launcher and its children even if an assertion (or this process) dies first.
const guard = guardProcesses('launcher');
const dataDir = join(guard.dir, 'data');
afterAll(() => guard.release());

type Launched = Server;

/** Runs `script` (default: the launcher) as `npm start` would, with the test's settings over `env`. */
function launch(
  env: Record<string, string>,
  script = 'src/main.ts',
  options: { detached?: boolean } = {},
): Launched {
  return spawnServer(
    guard,
    script,
    {
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      MYSQL_URL: '',
      REDIS_URL: '',
      TCP_METRICS_PORT: '0',
      HTTP_METRICS_PORT: '0',
      ...env,
    },
    options,
  );
}

/** Waits for the process to exit; its status and what it printed. */
async function outcome(proc: Launched): Promise<{ code: number; stdout: string; stderr: string }> {
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code: await proc.exited, stdout, stderr };
}

async function readyStatus(url: string): Promise<number> {
  return fetch(`${url}/readyz`).then(
    (r) => r.status,
    () => 0,
  );
}

/** Collects a pipe as it is written, so that a test can wait for a line. */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string } {
  let text = '';
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  void (async () => {
    for (let read = await reader.read(); !read.done; read = await reader.read())
      text += decoder.decode(read.value, { stream: true });
  })();
  return { text: () => text };
}

/** Three free ports for a stack of its own. */
async function ports(): Promise<{ http: number; tcp: number; metrics: number }> {
  return { http: await freePort(), tcp: await freePort(), metrics: await freePort() };
}

function stackEnv(p: { http: number; tcp: number; metrics: number }): Record<string, string> {
  return {
    HTTP_PORT: String(p.http),
    TCP_PORT: String(p.tcp),
    TCP_ADDRS: `127.0.0.1:${p.tcp}`,
    TCP_METRICS_PORT: String(p.metrics),
  };
}

function childPids(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** The scripts the launcher's children run, e.g. ['tcp/main.ts', 'http/main.ts']. */
function children(pid: number): string[] {
  const ids = childPids(pid);
  for (const id of ids) guard.track(Number(id));
  return ids
    .map((id) => {
      try {
        const argv = readFileSync(`/proc/${id}/cmdline`, 'utf8').split('\0');
        return (argv.find((a) => a.endsWith('main.ts')) ?? '').split('/src/')[1] ?? '';
      } catch {
        return '';
      }
    })
    .filter(Boolean)
    .sort();
}

async function until<T>(what: string, probe: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const value = await probe();
    if (value !== null) return value;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('integration: npm start (src/main.ts)', () => {
  it('should run two HTTP servers on one port in front of the TCP server, count what both serve on HTTP_METRICS_PORT, and stop them all on SIGTERM', async () => {
    const [tcpPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const tcpMetricsPort = await freePort();
    const proc = launch({
      TCP_PORT: String(tcpPort),
      TCP_ADDRS: `127.0.0.1:${tcpPort}`,
      TCP_METRICS_PORT: String(tcpMetricsPort),
      HTTP_PORT: String(httpPort),
      HTTP_METRICS_PORT: String(metricsPort),
      HTTP_PROCESSES: '2',
    });
    const url = `http://127.0.0.1:${httpPort}`;
    await until('readiness', async () =>
      (await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) === 200
        ? true
        : null,
    );
    await until('two HTTP servers', async () => (children(proc.pid).length === 3 ? true : null));
    expect(children(proc.pid)).toEqual(['http/main.ts', 'http/main.ts', 'tcp/main.ts']);

    const credentials = { username: 'launched_user', password: 'a long password' };
    const signUp = await fetch(`${url}/open_api/v1/register`, jsonInit('POST', credentials));
    expect(signUp.status).toBe(200);
    // Fresh connections, so the kernel may hand them to either HTTP server.
    const logins = 10;
    for (let i = 0; i < logins; i++) {
      const login = await fetch(`${url}/open_api/v1/authenticate`, {
        ...jsonInit('POST', credentials),
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { token: string }).token).toContain('.');
    }
    // One scrape counts the requests of both processes, whichever served them.
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const count = (route: string) =>
      Number(
        new RegExp(
          `^usermgr_http_request_duration_seconds_count\\{[^}]*route="${route}"[^}]*status="200"[^}]*\\} (\\d+)$`,
          'm',
        ).exec(scraped)?.[1],
      );
    expect({
      processes: /^usermgr_http_processes\{[^}]*\} (\d+)$/m.exec(scraped)?.[1],
      logins: count('/open_api/v1/authenticate'),
      signUps: count('/open_api/v1/register'),
    }).toEqual({ processes: '2', logins, signUps: 1 });
    // A per-process limit is not added up over the processes.
    const limit = (pid: number | string) =>
      /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
    const httpPid = childPids(proc.pid).find((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('http/main.ts'),
    );
    expect(/^process_max_fds\{[^}]*\} (\d+)$/m.exec(scraped)?.[1]).toBe(limit(httpPid ?? 0));
    // Not on the public port.
    expect((await fetch(`${url}/metrics`)).status).toBe(404);

    // With no TCP_SHARED_SECRET set, the launcher made one for this run: the
    // HTTP servers proved it, and anything else on the machine is refused.
    const stranger = await rawClient(tcpPort);
    stranger.write(pingFrame(1));
    await stranger.closed;
    expect(stranger.handshake[0]?.challenge?.nonce.length).toBe(32);
    expect(stranger.responses.map((r) => r.status)).toEqual([Status.UNAUTHENTICATED]); // no pong
    const tcpChild = childPids(proc.pid).find((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('tcp/main.ts'),
    );
    const secret = /(?:^|\0)TCP_SHARED_SECRET=([^\0]*)/.exec(
      readFileSync(`/proc/${tcpChild}/environ`, 'utf8'),
    )?.[1];
    expect(secret?.length).toBeGreaterThanOrEqual(32);
    // Every child runs with RUNTIME_ENV (the allocator setting), unless the caller set its own.
    for (const pid of childPids(proc.pid)) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      for (const [name, value] of Object.entries(RUNTIME_ENV))
        expect(environ).toContain(`${name}=${process.env[name] ?? value}`);
    }

    const pids = childPids(proc.pid);
    proc.kill('SIGTERM');
    const { code, stdout, stderr } = await outcome(proc);
    expect(code).toBe(0);
    // One refusal: the stranger's. The launcher's own probe of the port and the pools are not refused.
    expect(stdout.match(/refused a connection at the handshake/g)).toEqual([
      'refused a connection at the handshake',
    ]);
    expect(`${stdout}${stderr}`).not.toContain(secret as string);
    for (const pid of pids) expect(() => readFileSync(`/proc/${pid}/cmdline`)).toThrow();
    // Once for the whole stack, not once per HTTP server.
    expect(stdout.match(/usermgr is up/g)).toEqual(['usermgr is up']);
    expect(stdout).toContain(
      `usermgr is up: http://127.0.0.1:${httpPort}/\nmetrics: http://127.0.0.1:${metricsPort}/metrics (HTTP servers), ` +
        `http://127.0.0.1:${tcpMetricsPort}/metrics (TCP server)\n`,
    );
  }, 60_000);

  // systemd (KillMode=control-group), `timeout` and `kill -- -<pgid>` signal
  // every process of the group at once; an operator may signal one server.
  // `timeout` (and npm, passing a Ctrl-C on) also signals the launcher itself,
  // so it gets the signal twice within milliseconds: still one stop.
  // Either way the launcher's order must hold: the requests in flight are
  // answered, the HTTP servers stop before the TCP server, all exit 0.
  for (const target of [
    'the whole process group',
    'the TCP server alone',
    'the group and the launcher, as timeout does',
  ] as const) {
    it(`should stop in order, answering the requests in flight, on a SIGTERM to ${target}`, async () => {
      const p = await ports();
      const proc = launch({ ...stackEnv(p), HTTP_PROCESSES: '2' }, 'src/main.ts', {
        detached: true,
      });
      const url = `http://127.0.0.1:${p.http}`;
      await until('readiness', async () => ((await readyStatus(url)) === 200 ? true : null));
      await until('three servers', async () => (children(proc.pid).length === 3 ? true : null));
      const tcpChild = childPids(proc.pid).find((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('tcp/main.ts'),
      );
      // Sign-ups: each a slow hash, so most are still in flight when the signal comes.
      const inFlight = Array.from({ length: 8 }, (_, i) =>
        fetch(
          `${url}/open_api/v1/register`,
          jsonInit('POST', {
            username: `stopping_${target.length}_${i}`,
            password: 'a long password',
          }),
        ).then(
          (r) => r.status,
          () => -1,
        ),
      );
      const servers = childPids(proc.pid).map(Number);
      await Bun.sleep(40);
      if (target === 'the TCP server alone') process.kill(Number(tcpChild), 'SIGTERM');
      else process.kill(-proc.pid, 'SIGTERM');
      if (target === 'the group and the launcher, as timeout does') {
        // Apart, as relays send it (at once, the kernel would merge the two).
        await Bun.sleep(20);
        process.kill(proc.pid, 'SIGTERM');
      }
      // When each server is gone, seen from here.
      const goneAt = new Map<number, number>();
      const started = performance.now();
      const watch = (async () => {
        while (goneAt.size < servers.length && performance.now() - started < 20_000) {
          for (const pid of servers)
            if (!goneAt.has(pid) && !existsSync(`/proc/${pid}`)) goneAt.set(pid, performance.now());
          await Bun.sleep(2);
        }
      })();
      expect(await Promise.all(inFlight)).toEqual(Array(8).fill(200));
      const { code, stderr } = await outcome(proc);
      await watch;
      expect({ code, stderr: stderr.trim() }).toEqual({ code: 0, stderr: '' });
      // The TCP server last: the HTTP servers were still answering with it.
      const tcpGone = goneAt.get(Number(tcpChild)) as number;
      const httpGone = servers.filter((pid) => pid !== Number(tcpChild)).map((p) => goneAt.get(p));
      expect(httpGone.every((at) => at !== undefined && at <= tcpGone)).toBe(true);
    }, 60_000);
  }

  it('should start a server that dies again, the TCP server and an HTTP server alike, and serve on', async () => {
    const p = await ports();
    const proc = launch({ ...stackEnv(p), HTTP_PROCESSES: '2', POOL_BACKOFF_MAX_MS: '200' });
    const stderr = collect(proc.stderr);
    const url = `http://127.0.0.1:${p.http}`;
    await until('readiness', async () => ((await readyStatus(url)) === 200 ? true : null));
    await until('three servers', async () => (children(proc.pid).length === 3 ? true : null));
    const script = (pid: string) => readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // Past their start: a death now is a crash to mend.
    await Bun.sleep(3200);
    const tcpBefore = childPids(proc.pid).find((pid) => script(pid).includes('tcp/main.ts'));
    process.kill(Number(tcpBefore), 'SIGKILL');
    const newTcp = (than: string | undefined) =>
      until('a new TCP server', async () => {
        const pid = childPids(proc.pid).find((c) => script(c).includes('tcp/main.ts'));
        return pid !== undefined && pid !== than ? pid : null;
      });
    // Killed again soon after its restart (an operator's audit: that stopped everything
    // as "it did not start"): a restart is past its start at once.
    const restarted = await newTcp(tcpBefore);
    await until('the restarted TCP server answering', async () =>
      (await readyStatus(url)) === 200 ? true : null,
    );
    process.kill(Number(restarted), 'SIGKILL');
    const tcpAfter = await newTcp(restarted);
    const credentials = { username: 'restarted_user', password: 'a long password' };
    await until('sign-ups through the new TCP server', async () => {
      const res = await fetch(`${url}/open_api/v1/register`, jsonInit('POST', credentials));
      return res.status === 200 ? true : null;
    });
    const httpBefore = childPids(proc.pid).find((pid) => script(pid).includes('http/main.ts'));
    process.kill(Number(httpBefore), 'SIGKILL');
    await until('three servers again', async () =>
      childPids(proc.pid).length === 3 && !childPids(proc.pid).includes(String(httpBefore))
        ? true
        : null,
    );
    for (let i = 0; i < 10; i++) {
      const login = await fetch(`${url}/open_api/v1/authenticate`, jsonInit('POST', credentials));
      expect(login.status).toBe(200);
    }
    expect(childPids(proc.pid)).toContain(tcpAfter);
    expect(stderr.text()).toContain('tcp/main.ts exited (SIGKILL); starting it again');
    expect(stderr.text()).toContain('http/main.ts exited (SIGKILL); starting it again');
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 60_000);

  it('should have its servers stop by themselves when the launcher is killed outright', async () => {
    const p = await ports();
    const proc = launch({ ...stackEnv(p), HTTP_PROCESSES: '2' });
    const url = `http://127.0.0.1:${p.http}`;
    await until('readiness', async () => ((await readyStatus(url)) === 200 ? true : null));
    await until('three servers', async () => (children(proc.pid).length === 3 ? true : null));
    const servers = childPids(proc.pid);
    proc.kill('SIGKILL');
    // Each looks for its launcher once a second, then stops as on SIGTERM.
    await until('the servers to stop', async () =>
      servers.every((pid) => !existsSync(`/proc/${pid}`)) ? true : null,
    );
    // And the ports are free for the next start.
    const again = launch({ ...stackEnv(p), HTTP_PROCESSES: '1' });
    await until('readiness again', async () => ((await readyStatus(url)) === 200 ? true : null));
    again.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('should run one HTTP server when HTTP_PORT=0, since several cannot share a random port', async () => {
    const tcpPort = await freePort();
    const proc = launch({
      TCP_PORT: String(tcpPort),
      TCP_ADDRS: `127.0.0.1:${tcpPort}`,
      HTTP_PORT: '0',
      HTTP_PROCESSES: '3',
    });
    await until('the HTTP server', async () =>
      children(proc.pid).includes('http/main.ts') ? true : null,
    );
    // Only that server knows its random port, so it is the one that says so.
    const stdout = collect(proc.stdout);
    await until('"usermgr is up"', async () =>
      /usermgr is up: http:\/\/127\.0\.0\.1:\d+\//.test(stdout.text()) ? true : null,
    );
    expect(children(proc.pid)).toEqual(['http/main.ts', 'tcp/main.ts']);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stderr).text()).toContain(
      'HTTP_PORT=0: running one HTTP server',
    );
    expect(stdout.text().match(/usermgr is up/g)).toEqual(['usermgr is up']);
  }, 60_000);

  it('should refuse a second launcher on the same HTTP port at once, naming the port and HTTP_PORT', async () => {
    const first = await ports();
    const proc = launch({ ...stackEnv(first), HTTP_PROCESSES: '2' });
    const url = `http://127.0.0.1:${first.http}`;
    await until('the first stack', async () => ((await readyStatus(url)) === 200 ? true : null));
    // A user only the first stack has.
    const credentials = { username: 'first_stack_user', password: 'a long password' };
    expect((await fetch(`${url}/open_api/v1/register`, jsonInit('POST', credentials))).status).toBe(
      200,
    );

    // Its own TCP ports and data, so that only the HTTP port is shared.
    const second = await ports();
    const started = performance.now();
    const rival = await outcome(
      launch({
        ...stackEnv({ ...second, http: first.http }),
        DATA_DIR: join(guard.dir, 'rival-data'),
      }),
    );
    expect(performance.now() - started).toBeLessThan(5000);
    expect(rival.code).toBe(3);
    expect(rival.stderr.trim().split('\n')).toEqual([
      `port ${first.http} is taken by another usermgr launcher (npm start): stop it, or set HTTP_PORT to a free port`,
    ]);
    expect(rival.stdout).not.toContain('usermgr is up');

    // Every answer still comes from the first stack: fresh connections, and each knows the user.
    for (let i = 0; i < 12; i++) {
      const login = await fetch(`${url}/open_api/v1/authenticate`, {
        ...jsonInit('POST', credentials),
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      expect(login.status).toBe(200);
    }
    proc.kill('SIGTERM');
    expect((await outcome(proc)).code).toBe(0);
  }, 60_000);

  it('should say in one line which variable to change when a port is taken, without a stack trace', async () => {
    const taken = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    try {
      const cases = [
        { variable: 'HTTP_PORT', script: 'src/main.ts' },
        { variable: 'TCP_PORT', script: 'src/main.ts' },
        { variable: 'TCP_METRICS_PORT', script: 'src/main.ts' },
        { variable: 'TCP_PORT', script: 'src/tcp/main.ts' },
        { variable: 'TCP_METRICS_PORT', script: 'src/tcp/main.ts' },
        { variable: 'HTTP_PORT', script: 'src/http/main.ts' },
        { variable: 'HTTP_METRICS_PORT', script: 'src/main.ts' },
        { variable: 'HTTP_METRICS_PORT', script: 'src/http/main.ts' },
      ];
      for (const { variable, script } of cases) {
        const free = await ports();
        const env = { ...stackEnv(free), [variable]: String(taken.port) };
        const result = await outcome(launch(env, script));
        expect({ variable, script, code: result.code }).toEqual({ variable, script, code: 3 });
        expect(result.stderr.trim().split('\n')).toEqual([
          `port ${taken.port} on 127.0.0.1 is in use: stop what listens there, or set ${variable} to a free port`,
        ]);
      }
    } finally {
      taken.stop(true);
    }
  }, 90_000);

  it('should say in one line which variable to change for a host it cannot listen on, or a DATA_DIR that is no directory', async () => {
    const file = join(guard.dir, 'a-file');
    writeFileSync(file, '');
    const hostFix = 'e.g. 127.0.0.1, or 0.0.0.0 for every address';
    const cases: { env: Record<string, string>; line: string }[] = [
      {
        env: { TCP_HOST: '10.255.255.254' },
        line: `cannot listen on 10.255.255.254 (not an address of this machine): set TCP_HOST to one, ${hostFix}`,
      },
      {
        env: { HTTP_HOST: 'nohost.invalid' },
        line: `cannot listen on nohost.invalid (not an IP address of this machine): set HTTP_HOST to one, ${hostFix}`,
      },
      {
        env: { DATA_DIR: file },
        line: `cannot make the directory ${file} (EEXIST: a file is in the way, or a place where none can be made): set DATA_DIR (now ${file}) to a directory`,
      },
      {
        env: { DATA_DIR: join(file, 'data') },
        line: `cannot make the directory ${join(file, 'data')} (ENOTDIR: a file is in the way, or a place where none can be made): set DATA_DIR (now ${join(file, 'data')}) to a directory`,
      },
    ];
    for (const { env, line } of cases) {
      const result = await outcome(launch({ ...stackEnv(await ports()), ...env }));
      expect({ env, code: result.code, stderr: result.stderr.trim().split('\n') }).toEqual({
        env,
        code: 3,
        stderr: [line],
      });
    }
  }, 90_000);

  it('should refuse a MYSQL_URL without a database or a REDIS_URL that is no Redis URL in one line, exit 2', async () => {
    for (const [name, value, why] of [
      ['MYSQL_URL', 'mysql://root:pw@127.0.0.1:3306', 'no database name after the port'],
      ['REDIS_URL', 'http://127.0.0.1:6379', 'the scheme is http'],
    ]) {
      const result = await outcome(
        launch({ ...stackEnv(await ports()), [name as string]: value as string }),
      );
      expect({ name, code: result.code }).toEqual({ name, code: 2 });
      expect(result.stderr).toContain(`${why})`);
      expect(result.stderr).not.toContain(':pw@');
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  }, 60_000);

  it('should print the CREATE DATABASE statement in one line when the MySQL database is missing', async () => {
    const database = `usermgr_missing_${process.pid}`;
    const result = await outcome(
      launch({ ...stackEnv(await ports()), MYSQL_URL: `${TEST_MYSQL_URL}${database}` }),
    );
    expect(result.code).toBe(3);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4;`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stdout).not.toContain('usermgr is up');
  }, 60_000);

  it('should name the privileges a MySQL user lacks in one line, and serve with a user that may only read and write rows once migrated', async () => {
    const database = await createTestDatabase();
    const user = `usermgr_rw_${process.pid}`;
    await withAdmin(async (admin) => {
      await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'rw-secret'`);
      await admin.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON \`${database.name}\`.* TO '${user}'@'%'`,
      );
    });
    const url = new URL(database.url);
    url.username = user;
    url.password = 'rw-secret';
    try {
      const refused = await outcome(
        launch({ ...stackEnv(await ports()), MYSQL_URL: url.toString() }),
      );
      expect(refused.code).toBe(3);
      const lines = refused.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('refused a statement to the user in MYSQL_URL (CREATE command');
      expect(lines[0]).toContain(`GRANT ALL ON \`${database.name}\`.* TO that user`);
      expect(refused.stderr).not.toContain('rw-secret');

      // Migrated once by a user that may (the test's own), the same user serves.
      const migrations = await loadMigrations(migrationsDir('mysql'));
      await migrate(mysqlMigrationTarget(database.url, 5000), migrations, silentLogger);
      const free = await ports();
      const proc = launch({ ...stackEnv(free), MYSQL_URL: url.toString() });
      const base = `http://127.0.0.1:${free.http}`;
      await until('the stack', async () => ((await readyStatus(base)) === 200 ? true : null));
      const signUp = await fetch(
        `${base}/open_api/v1/register`,
        jsonInit('POST', { username: 'least_privilege', password: 'a long password' }),
      );
      expect(signUp.status).toBe(200);
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      await withAdmin((admin) => admin.query(`DROP USER IF EXISTS '${user}'@'%'`));
      await database.drop();
    }
  }, 90_000);

  it('should say why the stack is not ready instead of "usermgr is up" when no TCP server answers', async () => {
    const free = await ports();
    // An HTTP server alone, pointed at a port where nothing listens.
    const proc = launch({ ...stackEnv(free) }, 'src/http/main.ts');
    const stderr = collect(proc.stderr);
    await until('the reason', async () => (stderr.text().includes('not ready') ? true : null));
    expect(stderr.text()).toContain(
      `usermgr is not ready yet at http://127.0.0.1:${free.http}/: not ready: `,
    );
    proc.kill('SIGTERM');
    const stdout = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(stdout).not.toContain('usermgr is up');
  }, 60_000);

  it('should name TCP_ADDRS and REDIS_URL when they point where nothing answers, and a misspelt variable, without logging every probe', async () => {
    const free = await ports();
    const [nowhere, noRedis] = [await freePort(), await freePort()];
    const proc = launch({
      ...stackEnv(free),
      TCP_ADDRS: `127.0.0.1:${nowhere}`,
      REDIS_URL: `redis://:pw@127.0.0.1:${noRedis}`,
      LOG_LEVEL: 'info',
      // A misspelt variable: warned about once, by the launcher, not by each server.
      HTTP_PROCESS: '1',
    });
    const stdout = collect(proc.stdout);
    const stderr = collect(proc.stderr);
    await until('the reason', async () => (stderr.text().includes('not ready') ? true : null));
    expect(stderr.text().trim().split('\n')).toEqual([
      'warning: HTTP_PROCESS is not a usermgr variable, so it changes nothing; did you mean HTTP_PROCESSES?',
      `usermgr is not ready yet at http://127.0.0.1:${free.http}/: not ready: no TCP server is reachable ` +
        `(the TCP server listens on 127.0.0.1:${free.tcp}: check TCP_ADDRS, now 127.0.0.1:${nowhere})`,
    ]);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    const lines = stdout
      .text()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; route?: string });
    // The launcher asked /readyz five times a second for 10 s: no line per answer,
    // one per HTTP server when the answer changed.
    expect(lines.filter((l) => l.route === '/readyz')).toEqual([]);
    const notReady = lines.filter((l) => l.msg === 'not ready');
    expect(notReady.length).toBeGreaterThanOrEqual(1);
    expect(notReady.length).toBeLessThanOrEqual(2);
    // Redis never answered: the warning says where it looked and what to set, not the password.
    const cache = lines.filter((l) => l.msg.startsWith('cache unreachable'));
    expect(cache.map((l) => l.msg)).toEqual([
      `cache unreachable since start at 127.0.0.1:${noRedis}: start Redis there, or fix REDIS_URL; serving without it until it answers`,
    ]);
    expect(stdout.text()).not.toContain(':pw@');
  }, 60_000);

  it('should give a ready stack from a copy of .env.example with another TCP_PORT', async () => {
    const dir = join(guard.dir, 'from-example');
    mkdirSync(dir);
    const free = await ports();
    const example = readFileSync(join(root, '.env.example'), 'utf8')
      .replace(/^HTTP_PORT=.*$/m, `HTTP_PORT=${free.http}`)
      .replace(/^TCP_PORT=.*$/m, `TCP_PORT=${free.tcp}`)
      .replace(/^TCP_METRICS_PORT=.*$/m, `TCP_METRICS_PORT=${free.metrics}`)
      // Commented out in the example (the systemd units set it); the README says to uncomment it.
      .replace(/^# HTTP_METRICS_PORT=.*$/m, `HTTP_METRICS_PORT=${await freePort()}`)
      .replace(/^LOG_LEVEL=.*$/m, 'LOG_LEVEL=warn');
    // The data stays in the test's directory (the example leaves DATA_DIR to its default, ./data).
    writeFileSync(join(dir, '.env'), `${example}\nDATA_DIR=${join(dir, 'data')}\n`);
    // Nothing but that file, as after `cp .env.example .env`; --env-file only
    // keeps it out of the checkout, where every other test would read it too.
    const proc = Bun.spawn(
      [process.execPath, `--env-file=${join(dir, '.env')}`, join(root, 'src/main.ts')],
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir },
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
      },
    );
    guard.track(proc.pid);
    const stdout = collect(proc.stdout);
    await until('"usermgr is up"', async () =>
      stdout.text().includes('usermgr is up') ? true : null,
    );
    expect(await readyStatus(`http://127.0.0.1:${free.http}`)).toBe(200);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 60_000);

  it("should run the README's curl example verbatim against a started stack", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .find((b) => b.includes('/open_api/v1/authenticate'));
    if (block === undefined) throw new Error('README has no curl example of /authenticate');
    const free = await ports();
    const proc = launch({ ...stackEnv(free), ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' });
    const url = `http://127.0.0.1:${free.http}`;
    await until('readiness', async () => ((await readyStatus(url)) === 200 ? true : null));
    const dir = join(guard.dir, 'readme');
    mkdirSync(dir);
    writeFileSync(join(dir, 'photo.jpg'), await jpeg());
    // Only the port differs from what a reader runs.
    const script = block.replaceAll('localhost:8080', `localhost:${free.http}`);
    const run = Bun.spawnSync(['bash', '-euo', 'pipefail', '-c', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
    });
    const output = run.stdout.toString();
    expect(run.stderr.toString()).toBe('');
    expect(run.exitCode).toBe(0);
    // The profile read with $TOKEN, then the upload's answer.
    expect(output.match(/"username":"alice"/g)?.length).toBeGreaterThanOrEqual(3);
    expect(output).toMatch(/"picture_url":"\/pictures\/[0-9a-f]{64}\.webp"/);
    expect(output).not.toContain('"error"');
    proc.kill('SIGTERM');
    expect((await outcome(proc)).code).toBe(0);
  }, 60_000);

  it("should list every npm script of README's command table in package.json, bench:passwords among them", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: object }).scripts,
    );
    const table = [...readme.matchAll(/^\| `npm (?:run )?([\w:]+)`/gm)].map((m) => m[1] as string);
    expect(table).toContain('bench:passwords');
    expect(table.filter((name) => name !== 'test' && !scripts.includes(name))).toEqual([]);
  });

  it('should finish npm run bench:passwords by itself, with its JSON line last', async () => {
    // The script's command, run directly so that the guard holds its pid (npm would fork it).
    const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(scripts['bench:passwords']).toBe('bun bench/password-costs.ts');
    const proc = Bun.spawn([process.execPath, 'bench/password-costs.ts'], {
      cwd: root,
      env: { ...process.env, ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    guard.track(proc.pid);
    const stdout = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const last = stdout.trim().split('\n').at(-1) as string;
    expect((JSON.parse(last) as { scenario: string }).scenario).toBe('password-costs');
  }, 60_000);
});
