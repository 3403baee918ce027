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
import { jsonInit, PASSWORD, type Stack, signUp, startStack } from './fixture.ts';
import { type PrivateReplication, startPrivateReplication } from './support/private-replication.ts';

const ADMIN_TOKEN = 'replica-tests-admin-token'.padEnd(48, '0');
const NEW_PASSWORD = 'a different passphrase, 42 long';

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
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
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
    const username = uniqueName();
    const oldToken = await signUp(stack, username);
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
    const username = uniqueName();
    const token = await signUp(stack, username);
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
    try {
      const username = uniqueName();
      const token = await signUp(tight, username);
      await replication.caughtUp();
      await waitServing(tight);
      await replication.stopApplying();
      try {
        const res = await tight.fetch(
          '/api/v1/me',
          jsonInit('PATCH', { nickname: 'later' }, token),
        );
        expect(res.status).toBe(200);
        await waitFor(
          'the lagging replica stayed in rotation',
          async () => !(await serving(tight)),
          10_000,
        );
        // Out of rotation, the listing is the primary's.
        expect(await listedNickname(tight, username)).toBe('later');
        expect(await metric(tight, 'usermgr_mysql_replica_lag_seconds')).toBeGreaterThan(1);
      } finally {
        await replication.startApplying();
      }
      await waitServing(tight, 10_000);
      const said = lines.filter((l) => l.replica === replicaName).map((l) => l.msg);
      expect(said).toContain(
        'mysql replica out of rotation (it lags too far): the primary serves its reads',
      );
    } finally {
      await tight.stop();
    }
  });

  it('should cost no request an error when the replica dies, and use it again once it is back', async () => {
    const users = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const username = uniqueName();
        return { username, token: await signUp(stack, username) };
      }),
    );
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
