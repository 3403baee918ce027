/**
 * Connections that make no progress, measured in bytes, on real sockets: the
 * TCP server closes one that sends nothing (TCP_IDLE_TIMEOUT_MS) and one
 * whose partial frame trickles in (TCP_MIN_FRAME_BYTES_PER_S), and keeps one
 * whose call is being served or whose frame arrives steadily; the pool keeps
 * its healthy idle sockets open with pings, and a socket the server closes
 * anyway never fails a caller.
 */
import { afterEach, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { createRpcClient } from '../src/rpc/client.ts';
import { Pool, type PoolOptions } from '../src/rpc/pool.ts';
import { createDispatch, type Handlers } from '../src/tcp/dispatch.ts';
import { startTcpServer, type TcpServerOptions } from '../src/tcp/server.ts';
import { encodeFrame } from '../src/wire/frame.ts';
import { Status } from '../src/wire/status.ts';
import { pingFrame, type RawClient, rawClient, scriptedServer } from './support/raw.ts';

const IDLE_MS = 1000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LogLine {
  msg: string;
  level: number;
}

function capture() {
  const lines: LogLine[] = [];
  const log = createLogger('test', 'info', {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  return { log, lines };
}

function server(
  handlers: Handlers,
  options: Partial<TcpServerOptions> = {},
  log = silentLogger,
): ReturnType<typeof startTcpServer> {
  const s = startTcpServer(
    {
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 4 << 20,
      maxConnections: 100,
      maxInFlightPerConnection: 100,
      maxBufferedBytesPerConnection: 8 << 20,
      maxPartialFrameBytes: 64 << 20,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 10_000,
      idleTimeoutMs: IDLE_MS,
      minFrameBytesPerS: 65_536,
      ...options,
    },
    createDispatch(handlers, silentLogger),
    log,
  );
  cleanups.push(() => s.stop(0));
  return s;
}

function pool(port: number, options: Partial<PoolOptions> = {}, log = silentLogger): Pool {
  const p = new Pool(
    {
      addresses: [`127.0.0.1:${port}`],
      socketsPerAddress: 2,
      maxInFlightPerSocket: 100,
      maxWaiting: 100,
      maxQueuedBytesPerSocket: 1 << 20,
      maxFrameBytes: 4 << 20,
      connectTimeoutMs: 1000,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      ...options,
    },
    log,
  );
  cleanups.push(() => p.close());
  return p;
}

/** Milliseconds until the server closed `client`, or Infinity if it did not within `ms`. */
async function closedAfter(client: RawClient, ms: number, since: number): Promise<number> {
  const closed = await Promise.race([
    client.closed.then(() => true),
    Bun.sleep(ms).then(() => false),
  ]);
  return closed ? performance.now() - since : Infinity;
}

const pinger: Handlers = { ping: () => ({ serverId: 'idle' }) };

/** A Ping frame made large by its request id. */
function bulkyPing(id: number, requestId: string): Uint8Array {
  return encodeFrame(
    RequestSchema,
    create(RequestSchema, { id, requestId, call: { case: 'ping', value: {} } }),
  );
}

describe('integration: the TCP server closes connections that make no progress', () => {
  it('should close a connection that sends nothing for TCP_IDLE_TIMEOUT_MS, and keep one that sends', async () => {
    const s = server(pinger);
    const quiet = await rawClient(s.port);
    const talking = await rawClient(s.port);
    const since = performance.now();
    let sent = 0;
    const talk = setInterval(() => talking.write(pingFrame(++sent)), 300);
    try {
      const took = await closedAfter(quiet, IDLE_MS + 1500, since);
      // Counted from its open, a moment before `since`.
      expect(took).toBeGreaterThanOrEqual(IDLE_MS - 50);
      expect(took).toBeLessThan(IDLE_MS + 1000);
      await Bun.sleep(IDLE_MS);
      expect(talking.isClosed()).toBe(false);
      expect(talking.responses.length).toBeGreaterThanOrEqual(sent - 1);
    } finally {
      clearInterval(talk);
      talking.socket.end();
    }
  });

  it('should not count a call still being served as idleness', async () => {
    const s = server({ ping: () => Bun.sleep(IDLE_MS * 1.8).then(() => ({ serverId: 'slow' })) });
    const client = await rawClient(s.port);
    client.write(pingFrame(1));
    const [answer] = await client.waitFor(1, IDLE_MS * 3);
    expect(answer?.status).toBe(Status.OK);
    expect(client.isClosed()).toBe(false);
    // Once nothing is served, the idle time counts again.
    const took = await closedAfter(client, IDLE_MS + 1500, performance.now());
    expect(took).toBeLessThan(IDLE_MS + 1000);
  });

  it('should close a partial frame that trickles in (one byte every 400 ms) once its grace is over', async () => {
    const s = server(pinger);
    const client = await rawClient(s.port);
    const frame = bulkyPing(9, 'x'.repeat(200));
    const since = performance.now();
    void (async () => {
      for (const byte of frame) {
        if (client.isClosed()) return;
        client.write(Uint8Array.of(byte));
        await Bun.sleep(400);
      }
    })();
    // Well before the frame deadline (10 s) and the idle timeout, which trickling resets.
    const took = await closedAfter(client, 5000, since);
    expect(took).toBeGreaterThanOrEqual(1950);
    expect(took).toBeLessThan(3500);
    expect(client.responses).toEqual([]);
  });

  it('should keep a large frame that arrives steadily above the floor (1 MiB at 256 KiB/s)', async () => {
    const s = server(pinger);
    const client = await rawClient(s.port);
    const frame = bulkyPing(5, 'y'.repeat(1 << 20));
    for (let at = 0; at < frame.length; at += 32 * 1024) {
      client.write(frame.subarray(at, at + 32 * 1024));
      await Bun.sleep(125);
    }
    const [answer] = await client.waitFor(1);
    expect(answer).toMatchObject({ id: 5, status: Status.OK });
    client.socket.end();
  });
});

describe('integration: the pool keeps its idle sockets', () => {
  it('should see no error, no reconnect and no server-side close across idle periods', async () => {
    let pings = 0;
    const serverLog = capture();
    const s = server(
      {
        ping: () => {
          pings++;
          return { serverId: 'kept' };
        },
        register: (r) => ({ user: { username: r.username } }),
      },
      {},
      serverLog.log,
    );
    const poolLog = capture();
    const p = pool(s.port, {}, poolLog.log);
    const rpc = createRpcClient(p, 2000);
    for (let round = 0; round < 3; round++) {
      // Register is not idempotent: the pool would never send it twice to hide a lost socket.
      const result = await rpc.call('register', { username: `idle_${round}` });
      expect(result.user?.username).toBe(`idle_${round}`);
      await Bun.sleep(IDLE_MS * 2.5);
    }
    expect(p.stats()).toMatchObject({ open: 2, reconnects: 0, connectFailures: 0, rejected: 0 });
    expect(pings).toBeGreaterThan(3); // the keepalive at work
    expect(serverLog.lines.filter((l) => l.msg.includes('idle'))).toEqual([]);
    expect(poolLog.lines.filter((l) => l.level >= 40)).toEqual([]);
  }, 20_000);

  it('should reopen at once a socket the server closed for idleness, so that no caller fails', async () => {
    // A server that closes quiet sockets without announcing an idle timeout: no keepalive helps.
    const s = scriptedServer((held) => held.answer(), 0, { closeIdleAfterMs: 1200 });
    cleanups.push(() => s.stop());
    const p = pool(s.port, { socketsPerAddress: 1 });
    const send = () =>
      p
        .send(create(RequestSchema, { call: { case: 'ping', value: {} } }), 2000, false)
        .then((r) => r.status);
    expect(await send()).toBe(Status.OK);
    for (let round = 0; round < 2; round++) {
      // The moment the server's close is seen, before the socket is back.
      while (p.stats().open > 0) await new Promise((resolve) => setImmediate(resolve));
      expect(await send()).toBe(Status.OK);
    }
    expect(p.stats().rejected).toBe(0);
    expect(p.stats().reconnects).toBeGreaterThanOrEqual(2);
  }, 10_000);
});
