/**
 * What the TCP port must not take on trust from whoever reaches it, on real
 * sockets: only a peer that proves it knows TCP_SHARED_SECRET gets a call
 * answered (and the pool only calls a server that proved it too); a login
 * that names no client address is still under the per-address limit;
 * half-sent large frames cost the server at most a server-wide budget, and
 * their memory is given back when they close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema, ResponseSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { createRpcClient } from '../src/rpc/client.ts';
import { Pool } from '../src/rpc/pool.ts';
import { createDispatch } from '../src/tcp/dispatch.ts';
import { startTcpServer, type TcpServer, type TcpServerOptions } from '../src/tcp/server.ts';
import { encodeFrame, FrameDecoder } from '../src/wire/frame.ts';
import { newNonce, serverProof } from '../src/wire/handshake.ts';
import { RpcError } from '../src/wire/rpc-error.ts';
import { Status } from '../src/wire/status.ts';
import { type Stack, startStack } from './fixture.ts';
import { helloFrame, pingFrame, type RawClient, rawClient } from './support/raw.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { RATE_LIMIT_IP_PER_S: '1', RATE_LIMIT_IP_BURST: '3' } });
});
afterAll(() => stack?.stop());

function loginFrame(id: number, username: string, clientIp: string): Uint8Array {
  return encodeFrame(
    RequestSchema,
    create(RequestSchema, {
      id,
      clientIp,
      call: { case: 'login', value: { username, password: 'some wrong password' } },
    }),
  );
}

describe('integration: the TCP port trusts no caller', () => {
  it('should count logins that name no client address against one shared address', async () => {
    const client = await rawClient(stack.tcpPort);
    // Distinct unknown usernames: each costs a slow hash of its own.
    for (let i = 1; i <= 6; i++) client.write(loginFrame(i, `nobody_${i}`, ''));
    const answers = await client.waitFor(6);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === Status.UNAUTHENTICATED).length).toBe(3);
    expect(statuses.filter((s) => s === Status.RESOURCE_EXHAUSTED).length).toBe(3);
    // A caller with an address of its own still has its own allowance.
    client.write(loginFrame(7, 'nobody_7', '192.0.2.1'));
    const [, , , , , , own] = await client.waitFor(7);
    expect(own?.status).toBe(Status.UNAUTHENTICATED);
    client.socket.end();
  });
});

const MiB = 1024 * 1024;

/** Writes all of `bytes`, waiting while the socket's buffer is full; stops if it closes. */
async function writeAll(client: RawClient, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length && !client.isClosed()) {
    const n = client.socket.write(bytes.subarray(written));
    written += Math.max(0, n);
    if (n <= 0) await Bun.sleep(1);
  }
}

/** The resident set after a full collection, in MiB. */
function rssMiB(): number {
  Bun.gc(true);
  return process.memoryUsage().rss / MiB;
}

describe('integration: partial frames on the TCP port', () => {
  it('should keep half-sent 8 MiB frames within a server-wide budget and give the memory back', async () => {
    const budget = 64 * MiB;
    const server = pingServer({
      maxFrameBytes: 8 * MiB,
      maxConnections: 1000,
      maxInFlightPerConnection: 100,
      maxBufferedBytesPerConnection: 8 * MiB,
      maxPartialFrameBytes: budget,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 60_000,
    });
    try {
      const before = rssMiB();
      // Each client declares an 8 MiB frame and sends half of it, then waits.
      const half = new Uint8Array(4 * MiB + 3);
      half.set([0x80, 0x80, 0x80, 0x04]); // varint 8 MiB
      const clients = await Promise.all(Array.from({ length: 48 }, () => rawClient(server.port)));
      await Promise.all(clients.map((c) => writeAll(c, half)));
      // Settled when the bytes held and the connections open stop moving.
      let last = '';
      for (let i = 0; i < 200; i++) {
        await Bun.sleep(50);
        const now = `${server.partialFrameBytes}/${server.connections}`;
        if (now === last) break;
        last = now;
      }
      const open = clients.filter((c) => !c.isClosed());
      const peak = rssMiB() - before;
      console.info(
        `partial frames: ${open.length} of 48 connections kept, ${(server.partialFrameBytes / MiB).toFixed(0)} MiB held, RSS +${peak.toFixed(0)} MiB (noisy)`,
      );
      // The budget holds: the connections beyond it were closed.
      expect(server.partialFrameBytes).toBeLessThanOrEqual(budget);
      expect(open.length).toBeGreaterThan(0);
      expect(open.length).toBeLessThan(48);
      // 48 × 8 MiB declared would be 384 MiB; the budget plus a generous margin is far below.
      expect(peak).toBeLessThan(budget / MiB + 120);

      for (const c of clients) c.socket.end();
      await Promise.all(clients.map((c) => c.closed));
      for (let i = 0; i < 100 && server.connections > 0; i++) await Bun.sleep(50);
      expect(server.partialFrameBytes).toBe(0);
      const after = rssMiB() - before;
      console.info(`partial frames: RSS +${after.toFixed(0)} MiB after they closed (noisy)`);
      expect(after).toBeLessThan(48);
      // And the server still serves.
      const fresh = await rawClient(server.port);
      fresh.write(pingFrame(1));
      const [pong] = await fresh.waitFor(1);
      expect(pong?.status).toBe(Status.OK);
      fresh.socket.end();
    } finally {
      await server.stop(0);
    }
  }, 60_000);
});

const SECRET = 'the-tcp-shared-secret-of-this-test-0123456789';
const WRONG_SECRET = 'not-the-tcp-shared-secret-of-this-test-98765';
const HANDSHAKE_TIMEOUT_MS = 600;
const MAX_PENDING = 16;

interface LogLine {
  msg: string;
  reason?: string;
  err?: string;
  address?: string;
}

/** A logger that keeps every line, and the raw text to search for secrets. */
function capturingLogger() {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const log = createLogger('test', 'info', {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  return { log, lines, raw };
}

/** The call's error, or null when it succeeded. */
function failure(call: Promise<unknown>): Promise<RpcError | null> {
  return call.then(
    () => null,
    (err: RpcError) => err,
  );
}

/** A pool of `sockets` to one TCP server, proving `sharedSecret` ('' for none). */
function poolTo(port: number, sharedSecret: string, log = silentLogger, sockets = 2): Pool {
  return new Pool(
    {
      addresses: [`127.0.0.1:${port}`],
      socketsPerAddress: sockets,
      maxInFlightPerSocket: 10,
      maxWaiting: 10,
      maxQueuedBytesPerSocket: 1 << 20,
      maxFrameBytes: 1 << 20,
      connectTimeoutMs: 1000,
      backoffBaseMs: 10,
      backoffMaxMs: 50,
      sharedSecret,
    },
    log,
  );
}

/** A small TCP server that answers pings, with `options` over its defaults. */
function pingServer(options: Partial<TcpServerOptions>, log = silentLogger): TcpServer {
  return startTcpServer(
    {
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1 << 20,
      maxConnections: 10,
      maxInFlightPerConnection: 10,
      maxBufferedBytesPerConnection: 1 << 20,
      maxPartialFrameBytes: 1 << 20,
      defaultDeadlineMs: 1000,
      partialFrameTimeoutMs: 1000,
      ...options,
    },
    createDispatch({ ping: () => ({ serverId: 'test' }) }, silentLogger),
    log,
  );
}

function registerFrame(id: number, username: string): Uint8Array {
  return encodeFrame(
    RequestSchema,
    create(RequestSchema, {
      id,
      clientIp: '192.0.2.7',
      call: { case: 'register', value: { username, password: 'correct horse battery staple' } },
    }),
  );
}

/** Resolves true when the client was closed within `ms`. */
function closedWithin(client: RawClient, ms: number): Promise<boolean> {
  return Promise.race([client.closed.then(() => true), Bun.sleep(ms).then(() => false)]);
}

describe('integration: the handshake on the TCP port (TCP_SHARED_SECRET)', () => {
  let guarded: Stack;
  const logs = capturingLogger();

  beforeAll(async () => {
    guarded = await startStack({
      log: logs.log,
      env: {
        LOG_LEVEL: 'info',
        TCP_SHARED_SECRET: SECRET,
        TCP_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
        TCP_MAX_PENDING_HANDSHAKES: String(MAX_PENDING),
      },
    });
    await guarded.ready();
  });
  afterAll(() => guarded?.stop());

  /** A stranger's attempt: after the server closed it, no call was answered and nothing stored. */
  async function expectRefused(client: RawClient, username: string): Promise<void> {
    expect(await closedWithin(client, 2000)).toBe(true);
    expect(client.responses.map((r) => [r.id, r.status])).toEqual([[0, Status.UNAUTHENTICATED]]);
    expect(client.handshake.map((r) => r.welcome)).toEqual([undefined]);
    expect(await guarded.tcp.store.findByUsername(username)).toBeNull();
  }

  it('should serve the HTTP server, which proves the secret, and a client that proves it', async () => {
    const signup = await guarded.fetch('/open_api/v1/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'through_http', password: 'correct horse battery' }),
    });
    expect(signup.status).toBe(200);
    const client = await rawClient(guarded.tcpPort, { secret: SECRET });
    await client.ready;
    const [challenge, welcome] = client.handshake;
    expect(challenge?.challenge?.nonce.length).toBe(32);
    expect(welcome?.welcome?.proof.length).toBe(32);
    client.write(registerFrame(1, 'raw_but_proved'));
    const [answer] = await client.waitFor(1);
    expect(answer?.status).toBe(Status.OK);
    client.socket.end();
  });

  it('should answer no call of a client that does not handshake, and close it', async () => {
    const client = await rawClient(guarded.tcpPort);
    client.write(registerFrame(2, 'no_handshake'));
    await expectRefused(client, 'no_handshake');
    const pipelined = await rawClient(guarded.tcpPort);
    pipelined.write(Buffer.concat([pingFrame(1), registerFrame(2, 'no_handshake')]));
    await expectRefused(pipelined, 'no_handshake');
    expect(logs.lines.some((l) => l.reason?.startsWith('a request before the handshake'))).toBe(
      true,
    );
  });

  it('should refuse a wrong secret, even with calls sent right behind the proof', async () => {
    const alone = await rawClient(guarded.tcpPort, { secret: WRONG_SECRET });
    await expectRefused(alone, 'wrong_secret');
    const eager = await rawClient(guarded.tcpPort, {
      hello: (nonce) =>
        Buffer.concat([helloFrame(WRONG_SECRET, nonce), registerFrame(3, 'wrong_secret')]),
    });
    await expectRefused(eager, 'wrong_secret');
    expect(logs.lines.some((l) => l.reason?.startsWith('a wrong proof'))).toBe(true);
  });

  it('should refuse a proof replayed from another connection', async () => {
    let recorded: Uint8Array | null = null;
    const first = await rawClient(guarded.tcpPort, {
      hello: (nonce) => {
        recorded = helloFrame(SECRET, nonce);
        return recorded;
      },
    });
    await first.ready;
    expect(first.handshake[1]?.welcome).toBeDefined();
    const replay = await rawClient(guarded.tcpPort, {
      hello: () => Buffer.concat([recorded as Uint8Array, registerFrame(4, 'replayed')]),
    });
    await expectRefused(replay, 'replayed');
    // The same Hello alone (no call behind it) is refused too: its proof is for another nonce.
    const bare = await rawClient(guarded.tcpPort, { hello: () => recorded as Uint8Array });
    await expectRefused(bare, 'replayed');
    first.socket.end();
  });

  it('should keep at most a Hello of bytes before the proof: a large frame is refused at once', async () => {
    const client = await rawClient(guarded.tcpPort, {
      hello: () => Uint8Array.from([0x80, 0x80, 0x80, 0x04]), // declares 8 MiB
    });
    await expectRefused(client, 'none');
  });

  it('should close a connection that has not proved itself by the deadline', async () => {
    const silent = await rawClient(guarded.tcpPort);
    const half = await rawClient(guarded.tcpPort, {
      hello: (nonce) => helloFrame(SECRET, nonce).subarray(0, 20),
    });
    const started = performance.now();
    await Promise.all([silent.closed, half.closed]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 1000);
    for (const client of [silent, half])
      expect(client.responses.map((r) => r.status)).toEqual([Status.UNAUTHENTICATED]);
  });

  it('should bound the connections still proving themselves, and let the pool in meanwhile', async () => {
    const strangers = await Promise.all(
      Array.from({ length: MAX_PENDING * 4 }, () => rawClient(guarded.tcpPort)),
    );
    await Bun.sleep(100);
    const open = strangers.filter((c) => !c.isClosed()).length;
    expect(open).toBeLessThanOrEqual(MAX_PENDING);
    // The oldest were told the server is busy, not that they are wrong.
    const busy = strangers.filter((c) => c.responses[0]?.status === Status.UNAVAILABLE);
    expect(busy.length).toBeGreaterThanOrEqual(MAX_PENDING * 3);
    // A real client still gets in, among the flood, at once.
    const pool = poolTo(guarded.tcpPort, SECRET, silentLogger, 1);
    try {
      expect((await createRpcClient(pool, 2000).call('ping', {})).serverId).not.toBe('');
    } finally {
      pool.close();
    }
    await Promise.all(strangers.map((c) => c.closed));
    expect(guarded.tcp.server.connections).toBeLessThanOrEqual(4); // the stack's pool, at most
  });

  it('should not let the pool call a server that cannot prove the secret, and say why in one line', async () => {
    // A fake TCP server: it challenges, takes any Hello, and answers with a proof made of nothing.
    const received: string[] = [];
    const fake = Bun.listen<{ decoder: FrameDecoder<typeof RequestSchema> }>({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        open(socket) {
          socket.data = { decoder: new FrameDecoder(RequestSchema) };
          const challenge = create(ResponseSchema, {
            id: 0,
            status: Status.OK,
            challenge: { nonce: newNonce() },
          });
          socket.write(encodeFrame(ResponseSchema, challenge));
        },
        data(socket, chunk) {
          const frames = socket.data.decoder.push(chunk);
          if (!Array.isArray(frames)) return;
          for (const frame of frames) {
            received.push(frame.hello !== undefined ? 'hello' : String(frame.call.case));
            if (frame.hello === undefined) continue;
            const forged = serverProof(WRONG_SECRET, newNonce(), frame.hello.nonce);
            const welcome = create(ResponseSchema, { id: 0, welcome: { proof: forged } });
            socket.write(encodeFrame(ResponseSchema, welcome));
          }
        },
      },
    });
    const { log, lines, raw } = capturingLogger();
    const pool = poolTo(fake.port, SECRET, log);
    try {
      const rpc = createRpcClient(pool, 1000);
      const error = await failure(
        rpc.call('login', { username: 'victim', password: 'the password' }),
      );
      expect(error).toBeInstanceOf(RpcError);
      expect(error?.code).toBe(Status.UNAVAILABLE);
      await Bun.sleep(300);
      expect(pool.stats().open).toBe(0);
      expect(received.length).toBeGreaterThan(2);
      expect(received.every((r) => r === 'hello')).toBe(true); // never the login
      const warnings = lines.filter((l) => l.msg.includes('connect to TCP server'));
      expect(warnings.length).toBe(1); // once per streak, however many retries
      expect(warnings[0]?.err).toContain('does not match TCP_SHARED_SECRET');
      expect(raw.join('')).not.toContain(SECRET);
    } finally {
      pool.close();
      fake.stop(true);
    }
  });

  it('should report a wrong or missing secret like a connect failure on the HTTP side and say why on the TCP side', async () => {
    for (const [secret, poolSays, serverSays] of [
      [WRONG_SECRET, 'refused the handshake', 'a wrong proof'],
      ['', 'requires TCP_SHARED_SECRET', 'a client without TCP_SHARED_SECRET'],
    ] as const) {
      const client = capturingLogger();
      // A server of its own: refusals are logged once per reason every 10 s.
      const server = capturingLogger();
      const guardedServer = pingServer({ sharedSecrets: [SECRET] }, server.log);
      const pool = poolTo(guardedServer.port, secret, client.log);
      try {
        pool.warm();
        await Bun.sleep(400);
        const error = await failure(createRpcClient(pool, 500).call('ping', {}));
        expect(error?.code).toBe(Status.UNAVAILABLE);
        expect(pool.stats().connectFailures).toBeGreaterThan(2);
        const warnings = client.lines.filter((l) => l.msg.includes('connect to TCP server'));
        expect({ secret, count: warnings.length }).toEqual({ secret, count: 1 });
        expect(warnings[0]?.err).toContain(poolSays);
        const refusals = server.lines.filter(
          (l) => l.msg === 'refused a connection at the handshake',
        );
        expect(refusals.length).toBe(1); // once per 10 s, however many retries
        expect(refusals[0]?.reason).toStartWith(serverSays);
        for (const text of [client.raw.join(''), server.raw.join(''), logs.raw.join('')]) {
          expect(text).not.toContain(SECRET);
          expect(text).not.toContain(WRONG_SECRET);
        }
      } finally {
        pool.close();
        await guardedServer.stop(0);
      }
    }
  });

  it('should make a server without a secret refuse nothing, and a pool with one refuse that server', async () => {
    const open = pingServer({});
    const { log, lines } = capturingLogger();
    const pool = poolTo(open.port, SECRET, log, 1);
    try {
      const client = await rawClient(open.port);
      client.write(pingFrame(1));
      expect((await client.waitFor(1))[0]?.status).toBe(Status.OK);
      expect(client.handshake[0]?.challenge?.nonce.length).toBe(0);
      client.socket.end();
      const error = await failure(createRpcClient(pool, 500).call('ping', {}));
      expect(error?.code).toBe(Status.UNAVAILABLE);
      expect(lines.find((l) => l.msg.includes('connect to TCP server'))?.err).toContain(
        'asks for no TCP_SHARED_SECRET',
      );
    } finally {
      pool.close();
      await open.stop(0);
    }
  });
});
