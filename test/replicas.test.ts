/**
 * Reads from a real MariaDB replica (MYSQL_REPLICA_URLS) on the real stack:
 * a private primary and replica (test/support/private-replication.ts), the
 * shared Redis, the TCP and HTTP servers in this process.
 *
 * What must hold: a replica that lags (its SQL thread stopped) never answers
 * what decides access or what its author just wrote; it still answers the
 * admin listing, which is how the test knows it was in rotation all along; a
 * replica lagging past MYSQL_REPLICA_MAX_LAG_MS leaves rotation; a dead one
 * costs no request an error, and comes back once it answers and has caught up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { jsonInit, PASSWORD, type Stack, startStack } from './fixture.ts';
import { type PrivateReplication, startPrivateReplication } from './support/private-replication.ts';

const ADMIN_TOKEN = 'replica-tests-admin-token'.padEnd(48, '0');
const NEW_PASSWORD = 'a different passphrase, 42 long';
const LAGGING = 'mysql replica out of rotation (it lags too far): the primary serves its reads';

let replication: PrivateReplication;
/** MYSQL_REPLICA_MAX_LAG_MS 60 s: the lagging replica stays in rotation while a test looks. */
let stack: Stack;
const lines: { msg: string; replica?: string }[] = [];
let replicaName = '';
let serial = 0;

function uniqueName(): string {
  return `rep${process.pid % 10_000}_${++serial}_${Date.now() % 100_000}`;
}

async function startReplicaStack(maxLagMs: number): Promise<Stack> {
  return startStack({
    redis: true,
    log: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    env: {
      LOG_LEVEL: 'info',
      MYSQL_URL: replication.primary.url,
      MYSQL_REPLICA_URLS: replication.replica.url,
      MYSQL_REPLICA_MAX_LAG_MS: String(maxLagMs),
      MYSQL_REPLICA_CHECK_MS: '100',
      // On a loaded machine a new connection can take seconds; the tests are about lag.
      MYSQL_CONNECT_TIMEOUT_MS: '10000',
      ADMIN_TOKEN,
    },
  });
}

beforeAll(async () => {
  replication = await startPrivateReplication();
  replicaName = `127.0.0.1:${replication.replica.port}`;
  stack = await startReplicaStack(60_000);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await replication?.stop();
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`${what} within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

/** Sends until the answer is one of `ok`, while a loaded machine answers 429, 503 or 504 (bounded). */
async function untilAnswered(send: () => Promise<Response>, ok: number[]): Promise<Response> {
  const until = performance.now() + 30_000;
  for (;;) {
    const res = await send();
    if (ok.includes(res.status)) return res;
    const body = await res.text();
    if (![429, 503, 504].includes(res.status) || performance.now() > until) {
      throw new Error(`${res.url} answered ${res.status}: ${body}`);
    }
    await Bun.sleep(200);
  }
}

/** A new user, logged in: its name and session token. */
async function newUser(on: Stack): Promise<{ username: string; token: string }> {
  const username = uniqueName();
  const credentials = { username, password: PASSWORD };
  // 409: an earlier attempt that timed out did create it.
  await untilAnswered(
    () => on.fetch('/open_api/v1/register', jsonInit('POST', credentials)),
    [200, 409],
  );
  const res = await untilAnswered(
    () => on.fetch('/open_api/v1/authenticate', jsonInit('POST', credentials)),
    [200],
  );
  return { username, token: ((await res.json()) as { token: string }).token };
}

/** The status of an answer read to its end; 0 when there was none. */
async function statusOf(answer: Promise<Response>): Promise<number> {
  try {
    const res = await answer;
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** One series of a TCP server metric for the replica. */
async function metric(on: Stack, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${on.tcp.opsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{replica="${replicaName}"`));
  const value = line?.slice(line.lastIndexOf(' ') + 1) ?? '0';
  return value === '+Inf' ? Number.POSITIVE_INFINITY : Number(value);
}

const serving = (on: Stack) => metric(on, 'usermgr_mysql_replica_in_rotation').then((v) => v === 1);

function waitServing(on: Stack, timeoutMs = 20_000) {
  return waitFor('the replica did not come into rotation', () => serving(on), timeoutMs);
}

function login(on: Stack, username: string, password: string): Promise<number> {
  return statusOf(on.fetch('/open_api/v1/authenticate', jsonInit('POST', { username, password })));
}

async function me(on: Stack, token: string): Promise<{ status: number; nickname?: string }> {
  const res = await on.fetch('/api/v1/me', { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { user?: { nickname: string } };
  return { status: res.status, nickname: body.user?.nickname };
}

/** The nickname the admin listing shows for `username` (a lag-tolerant read). */
async function listedNickname(on: Stack, username: string): Promise<string | undefined> {
  const res = await on.fetch(`/users?username_prefix=${username}&limit=10`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(res.status).toBe(200);
  const { users } = (await res.json()) as { users: { username: string; nickname: string }[] };
  return users.find((u) => u.username === username)?.nickname;
}

/** Runs `test` with the replica's SQL thread stopped, and lets it catch up after. */
async function whileLagging(test: () => Promise<void>): Promise<void> {
  await replication.caughtUp();
  await waitServing(stack);
  await replication.stopApplying();
  try {
    await test();
  } finally {
    await replication.startApplying();
    await replication.caughtUp();
  }
}

describe('integration: MariaDB replicas', () => {
  it('should refuse the old password at once after a change, while the replica lags', async () => {
    const { username, token: oldToken } = await newUser(stack);
    await whileLagging(async () => {
      const res = await stack.fetch(
        '/api/v1/me/password',
        jsonInit('PUT', { current_password: PASSWORD, new_password: NEW_PASSWORD }, oldToken),
      );
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      expect(await login(stack, username, PASSWORD)).toBe(401);
      expect(await login(stack, username, NEW_PASSWORD)).toBe(200);
      expect((await me(stack, oldToken)).status).toBe(401);
      expect((await me(stack, token)).status).toBe(200);
      // The replica really is behind: it still holds the sessions_valid_after from before.
      const [onReplica] = await replication.onReplica(
        'SELECT sessions_valid_after FROM users WHERE username = ?',
        [username],
      );
      const [onPrimary] = await replication.onPrimary(
        'SELECT sessions_valid_after FROM users WHERE username = ?',
        [username],
      );
      expect(Number(onReplica?.sessions_valid_after)).toBeLessThan(
        Number(onPrimary?.sessions_valid_after),
      );
      expect(await serving(stack)).toBe(true);
    });
  });

  it('should read a nickname change back to its author at once, and the listing from the lagging replica', async () => {
    const { username, token } = await newUser(stack);
    expect((await me(stack, token)).nickname).toBe(username);
    await whileLagging(async () => {
      const readsBefore = await metric(stack, 'usermgr_mysql_replica_reads_total');
      const res = await stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname: 'Ẓoë 🚀' }, token));
      expect(res.status).toBe(200);
      expect(await me(stack, token)).toEqual({ status: 200, nickname: 'Ẓoë 🚀' });
      // The listing tolerates lag: it came from the replica, which has not applied the change.
      expect(await listedNickname(stack, username)).toBe(username);
      expect(await metric(stack, 'usermgr_mysql_replica_reads_total')).toBe(readsBefore + 1);
    });
    await waitFor(
      'the listing did not show the change once the replica caught up',
      async () => (await listedNickname(stack, username)) === 'Ẓoë 🚀',
      5000,
    );
  });

  it('should take a replica lagging past the bound out of rotation, and back once it catches up', async () => {
    const tight = await startReplicaStack(1000);
    const said = (from: number) =>
      lines
        .slice(from)
        .filter((l) => l.replica === replicaName)
        .map((l) => l.msg);
    try {
      const { username, token } = await newUser(tight);
      await replication.caughtUp();
      await waitServing(tight);
      const mark = lines.length;
      await replication.stopApplying();
      try {
        await untilAnswered(
          () => tight.fetch('/api/v1/me', jsonInit('PATCH', { nickname: 'later' }, token)),
          [200],
        );
        await waitFor(
          'the lagging replica stayed in rotation',
          async () => said(mark).includes(LAGGING) && !(await serving(tight)),
          20_000,
        );
        // Out of rotation, the listing is the primary's.
        expect(await listedNickname(tight, username)).toBe('later');
        await waitFor(
          'the lag gauge did not pass the bound',
          async () => (await metric(tight, 'usermgr_mysql_replica_lag_seconds')) > 1,
          10_000,
        );
      } finally {
        await replication.startApplying();
      }
      await waitServing(tight);
      expect(said(mark)).toContain(LAGGING);
      expect(said(mark).at(-1)).toBe('mysql replica in rotation');
    } finally {
      await tight.stop();
    }
  });

  it('should cost no request an error when the replica dies, and use it again once it is back', async () => {
    const users = await Promise.all([0, 1, 2, 3].map(() => newUser(stack)));
    await replication.caughtUp();
    await waitServing(stack);
    const statuses = new Map<string, number>();
    const count = (what: string, status: number) => {
      const key = `${what} ${status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    };
    let running = true;
    const worker = async ({ username, token }: { username: string; token: string }) => {
      let n = 0;
      while (running) {
        n++;
        count('login', await login(stack, username, PASSWORD));
        count('profile', (await me(stack, token).catch(() => ({ status: 0 }))).status);
        count(
          'nickname',
          await statusOf(
            stack.fetch('/api/v1/me', jsonInit('PATCH', { nickname: `n${n}` }, token)),
          ),
        );
        count(
          'listing',
          await statusOf(
            stack.fetch('/users?limit=50', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
          ),
        );
      }
    };
    const load = Promise.all(users.map(worker));
    try {
      await Bun.sleep(500);
      await replication.replica.kill();
      await waitFor(
        'the dead replica stayed in rotation',
        async () => !(await serving(stack)),
        10_000,
      );
      await Bun.sleep(500);
    } finally {
      running = false;
      await load;
    }
    const kinds = ['login', 'profile', 'nickname', 'listing'];
    expect([...statuses.keys()].sort()).toEqual(kinds.map((k) => `${k} 200`).sort());
    for (const kind of kinds) expect(statuses.get(`${kind} 200`)).toBeGreaterThan(4);

    await replication.replica.start();
    await replication.caughtUp();
    await waitServing(stack);
    const before = await metric(stack, 'usermgr_mysql_replica_reads_total');
    expect(await listedNickname(stack, users[0]?.username ?? '')).toBeDefined();
    expect(await metric(stack, 'usermgr_mysql_replica_reads_total')).toBe(before + 1);
    const said = lines.filter((l) => l.replica === replicaName).map((l) => l.msg);
    expect(said.at(-1)).toBe('mysql replica in rotation');
    expect(said.some((m) => m.startsWith('mysql replica out of rotation'))).toBe(true);
  }, 60_000);
});
