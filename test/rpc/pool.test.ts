import { afterEach, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../../src/gen/usermgr/v1/rpc_pb.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { createRpcClient } from '../../src/rpc/client.ts';
import { Pool, type PoolOptions } from '../../src/rpc/pool.ts';
import { createDispatch, type Handlers } from '../../src/tcp/dispatch.ts';
import { startTcpServer, type TcpServer } from '../../src/tcp/server.ts';
import { RpcError } from '../../src/wire/rpc-error.ts';
import { Status } from '../../src/wire/status.ts';
import { eventually } from '../fixture.ts';
import { type HeldRequest, scriptedServer } from '../support/raw.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function pool(ports: number[], options: Partial<PoolOptions> = {}, log = silentLogger): Pool {
  const p = new Pool(
    {
      addresses: ports.map((port) => `127.0.0.1:${port}`),
      socketsPerAddress: 2,
      maxInFlightPerSocket: 4096,
      maxWaiting: 10_000,
      maxQueuedBytesPerSocket: 32 << 20,
      maxFrameBytes: 8 << 20,
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

function server(handlers: Handlers, port = 0): TcpServer {
  const s = startTcpServer(
    {
      host: '127.0.0.1',
      port,
      maxFrameBytes: 8 << 20,
      maxConnections: 100,
      maxInFlightPerConnection: 100_000,
      maxBufferedBytesPerConnection: 64 << 20,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 10_000,
      maxPartialFrameBytes: 256 << 20,
    },
    createDispatch(handlers, silentLogger),
    silentLogger,
  );
  cleanups.push(() => s.stop(0));
  return s;
}

/** Opens every socket of the pool and waits until they are all open. */
async function warmed(p: Pool): Promise<Pool> {
  p.warm();
  const until = performance.now() + 2000;
  while (p.stats().open < p.stats().sockets && performance.now() < until) await Bun.sleep(2);
  return p;
}

function ping(p: Pool, timeoutMs = 2000) {
  return createRpcClient(p, timeoutMs).call('ping', {});
}

/** A Ping through the pool itself, with the raw Response (no typed unwrap). */
function rawPing(p: Pool, retryable: boolean, timeoutMs = 5000) {
  return p.send(create(RequestSchema, { call: { case: 'ping', value: {} } }), timeoutMs, retryable);
}

/** A logger whose lines, parsed, land in `lines`. */
function logged<T>() {
  const lines: T[] = [];
  const log = createLogger('test', 'info', {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  return { lines, log };
}

/** A server that answers on every socket but the first to send it a call (half-open, or stuck behind a backlog). */
function silentOnFirstSocket() {
  let stuck: unknown = null;
  const s = scriptedServer((held) => {
    stuck ??= held.socket;
    if (held.socket !== stuck) held.answer();
  });
  cleanups.push(() => s.stop());
  return s;
}

async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('integration: Pool over real sockets', () => {
  it('should answer and match 10,000 concurrent calls', async () => {
    const s = server({
      register: (r) => ({ user: { username: r.username, nickname: r.nickname } }),
    });
    const rpc = createRpcClient(pool([s.port]), 10_000);
    const calls = Array.from({ length: 10_000 }, (_, i) =>
      rpc.call('register', { username: `u${i}`, nickname: `n${i}` }),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      expect(r.user?.username).toBe(`u${i}`);
      expect(r.user?.nickname).toBe(`n${i}`);
    });
  });

  it('should carry the remaining deadline in the frame', async () => {
    const s = scriptedServer((held) => held.answer());
    cleanups.push(() => s.stop());
    await ping(pool([s.port]), 1500);
    const sent = s.held[0]?.request.deadlineMs ?? 0;
    expect(sent).toBeGreaterThan(1000);
    expect(sent).toBeLessThanOrEqual(1500);
  });

  it('should fail a call with DEADLINE_EXCEEDED when the server never answers', async () => {
    const s = scriptedServer();
    cleanups.push(() => s.stop());
    const p = await warmed(pool([s.port])); // connected first, so only the deadline is measured
    const started = performance.now();
    const error = await rejection(ping(p, 200));
    const elapsed = performance.now() - started;
    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(400);
  });

  it('should fail fast with UNAVAILABLE when in-flight and waiting limits are reached', async () => {
    let answering = false;
    const s = scriptedServer((held) => answering && held.answer());
    cleanups.push(() => s.stop());
    const p = await warmed(
      pool([s.port], { socketsPerAddress: 1, maxInFlightPerSocket: 2, maxWaiting: 3 }),
    );
    const held = Array.from({ length: 5 }, () => ping(p, 5000).catch((e) => e));
    await Bun.sleep(50);
    expect(p.stats()).toMatchObject({ inFlight: 2, waiting: 3 });
    const started = performance.now();
    const error = await rejection(ping(p, 5000));
    expect(error.code).toBe(Status.UNAVAILABLE);
    expect(performance.now() - started).toBeLessThan(50);
    // Once the server answers, the waiting calls move onto the socket and complete.
    answering = true;
    for (const h of s.held) h.answer();
    const settled = await Promise.all(held);
    expect(settled.filter((r) => r instanceof Error)).toEqual([]);
  });

  it('should fail exactly the calls of a socket that closes', async () => {
    const s = scriptedServer();
    cleanups.push(() => s.stop());
    const p = await warmed(pool([s.port], { socketsPerAddress: 2 }));
    const calls = Array.from({ length: 20 }, () =>
      rawPing(p, false).then(
        () => 'ok',
        (e: RpcError) => e.code,
      ),
    );
    await Bun.sleep(50);
    expect(s.sockets.length).toBe(2);
    const onFirst = s.held.filter((h) => h.socket === s.sockets[0]).length;
    expect(onFirst).toBeGreaterThan(0);
    expect(onFirst).toBeLessThan(20);
    s.sockets[0]?.terminate();
    await Bun.sleep(20);
    for (const h of s.held) if (h.socket === s.sockets[1]) h.answer();
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o === Status.UNAVAILABLE).length).toBe(onFirst);
    expect(outcomes.filter((o) => o === 'ok').length).toBe(20 - onFirst);
  });

  it('should send an idempotent call once more on another socket when its socket is lost', async () => {
    const s = scriptedServer();
    cleanups.push(() => s.stop());
    const p = await warmed(pool([s.port], { socketsPerAddress: 2 }));
    const calls = Array.from({ length: 20 }, () =>
      rawPing(p, true).then(
        () => 'ok',
        (e: RpcError) => e.code,
      ),
    );
    await Bun.sleep(50);
    const first = s.sockets[0];
    const onFirst = s.held.filter((h) => h.socket === first).length;
    expect(onFirst).toBeGreaterThan(0);
    first?.terminate();
    await Bun.sleep(50);
    // The calls of the lost socket arrived again, on the other one.
    const onSecond = s.held.filter((h) => h.socket === s.sockets[1]);
    expect(onSecond.length).toBe(20);
    for (const h of onSecond) h.answer();
    expect(await Promise.all(calls)).toEqual(Array(20).fill('ok'));
    // Only once: when the second socket is lost too, they fail.
    const again = rawPing(p, true).catch((e: RpcError) => e.code);
    await Bun.sleep(30);
    for (const socket of s.sockets) socket.terminate();
    expect(await again).toBe(Status.UNAVAILABLE);
  });

  it('should add sockets for new addresses and retire removed ones after their calls finish', async () => {
    const a = scriptedServer((held) => held.answer('a'));
    const b = scriptedServer(); // holds every call until the test answers
    cleanups.push(
      () => a.stop(),
      () => b.stop(),
    );
    const p = await warmed(pool([a.port], { socketsPerAddress: 1 }));
    p.setAddresses([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    await warmed(p);
    expect(p.stats().open).toBe(2);
    const calls = Array.from({ length: 10 }, () => rawPing(p, false));
    await Bun.sleep(30);
    const onB = b.held.length;
    expect(onB).toBeGreaterThan(0);

    p.setAddresses([`127.0.0.1:${a.port}`]);
    expect(p.addresses()).toEqual([`127.0.0.1:${a.port}`]);
    expect(b.sockets[0]?.readyState).toBe(1); // still open: it carries calls
    const later = await Promise.all(Array.from({ length: 10 }, () => rawPing(p, false)));
    expect(later.every((r) => r.result.case === 'ping' && r.result.value.serverId === 'a')).toBe(
      true,
    );
    expect(b.held.length).toBe(onB); // nothing new went to b

    for (const h of b.held) h.answer('b');
    const answers = await Promise.all(calls);
    expect(
      answers.filter((r) => r.result.case === 'ping' && r.result.value.serverId === 'b').length,
    ).toBe(onB);
    await Bun.sleep(30);
    expect(p.stats().sockets).toBe(1);
    expect(b.sockets[0]?.readyState).not.toBe(1);
  });

  it('should fail fast while the server is down and reconnect with backoff when it returns', async () => {
    const s1 = server({ ping: () => ({ serverId: 'first' }) });
    const port = s1.port;
    const p = pool([port], { backoffBaseMs: 20, backoffMaxMs: 200 });
    expect((await ping(p)).serverId).toBe('first');
    await s1.stop(0);
    await Bun.sleep(30);
    const started = performance.now();
    const error = await rejection(ping(p));
    expect(error.code).toBe(Status.UNAVAILABLE);
    expect(performance.now() - started).toBeLessThan(100);

    // While down, attempts back off: far fewer than one per millisecond-scale tick.
    const before = p.stats().connectFailures;
    await Bun.sleep(1000);
    const failures = p.stats().connectFailures - before;
    expect(failures).toBeGreaterThan(2);
    expect(failures).toBeLessThan(40);

    server({ ping: () => ({ serverId: 'second' }) }, port);
    const until = performance.now() + 2000;
    let answer = '';
    while (answer === '' && performance.now() < until) {
      answer = await ping(p).then(
        (r) => r.serverId,
        () => '',
      );
      if (answer === '') await Bun.sleep(20);
    }
    expect(answer).toBe('second');
    expect(p.stats().reconnects).toBeGreaterThan(0);
  });

  it('should spread load over two servers', async () => {
    const a = server({ ping: () => ({ serverId: 'a' }) });
    const b = server({ ping: () => ({ serverId: 'b' }) });
    const p = pool([a.port, b.port]);
    await ping(p);
    await Bun.sleep(50);
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 100 }, () => ping(p)));
      for (const r of results) counts[r.serverId] = (counts[r.serverId] ?? 0) + 1;
    }
    expect(counts.a).toBeGreaterThan(300);
    expect(counts.b).toBeGreaterThan(300);
  });

  it('should coalesce the writes of one tick into one write', async () => {
    const s = scriptedServer((held) => held.answer());
    cleanups.push(() => s.stop());
    const p = pool([s.port], { socketsPerAddress: 1 });
    await ping(p);
    const before = s.chunks[0] ?? 0;
    await Promise.all(Array.from({ length: 200 }, () => ping(p)));
    expect((s.chunks[0] ?? 0) - before).toBeLessThanOrEqual(3);
  });

  it('should deliver large frames intact when the socket pushes back', async () => {
    const s = server({
      setPicture: (r) => ({ user: { picture: String(r.image.reduce((sum, b) => sum + b, 0)) } }),
    });
    const rpc = createRpcClient(pool([s.port], { socketsPerAddress: 1 }), 20_000);
    const images = Array.from({ length: 12 }, (_, i) => new Uint8Array(2 << 20).fill(i + 1));
    const results = await Promise.all(images.map((image) => rpc.call('setPicture', { image })));
    expect(results.map((r) => r.user?.picture)).toEqual(
      images.map((_, i) => String((i + 1) * (2 << 20))),
    );
  });

  it('should stop sending to a server that announces shutdown and finish what it started', async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const s = server({
      ping: async () => {
        await gate;
        return { serverId: 'draining' };
      },
    });
    const p = pool([s.port]);
    const calls = Array.from({ length: 10 }, () => ping(p, 5000));
    await Bun.sleep(50);
    const stopping = s.stop(5000);
    await Bun.sleep(50);
    release();
    const results = await Promise.all(calls);
    expect(results.every((r) => r.serverId === 'draining')).toBe(true);
    await stopping;
  });

  it('should fail every pending call when closed', async () => {
    const s = scriptedServer();
    cleanups.push(() => s.stop());
    const p = new Pool(
      {
        addresses: [`127.0.0.1:${s.port}`],
        socketsPerAddress: 1,
        maxInFlightPerSocket: 10,
        maxWaiting: 10,
        maxQueuedBytesPerSocket: 1 << 20,
        maxFrameBytes: 1 << 20,
        connectTimeoutMs: 1000,
        backoffBaseMs: 10,
        backoffMaxMs: 100,
      },
      silentLogger,
    );
    const calls = Array.from({ length: 5 }, () =>
      p.send(create(RequestSchema, { call: { case: 'ping', value: {} } }), 5000),
    );
    await Bun.sleep(30);
    p.close();
    for (const call of calls) expect((await rejection(call)).code).toBe(Status.UNAVAILABLE);
  });

  it('should free the slot of an aborted call at once and send the server a cancel frame', async () => {
    let cancelledOnServer = 0;
    let first = true;
    const s = server({
      ping: (_req, ctx) => {
        if (!first) return { serverId: 'next' };
        first = false;
        // The first call is held until the server hears that its caller is gone.
        return new Promise((resolve) =>
          ctx.deadline.signal.addEventListener('abort', () => {
            cancelledOnServer++;
            resolve({ serverId: 'nobody reads this' });
          }),
        );
      },
    });
    const p = await warmed(pool([s.port], { socketsPerAddress: 1, maxInFlightPerSocket: 1 }));
    const rpc = createRpcClient(p, 5000);
    const hangUp = new AbortController();
    const held = rpc.call('ping', {}, { signal: hangUp.signal });
    const next = rpc.call('ping', {});
    await Bun.sleep(20);
    expect(p.stats()).toMatchObject({ inFlight: 1, waiting: 1 });

    const aborted = performance.now();
    hangUp.abort();
    expect((await rejection(held)).code).toBe(Status.CANCELLED);
    // The slot went to the waiting call, without waiting for the server.
    expect((await next).serverId).toBe('next');
    expect(performance.now() - aborted).toBeLessThan(1000);
    const until = performance.now() + 2000;
    while (cancelledOnServer === 0 && performance.now() < until) await Bun.sleep(5);
    expect(cancelledOnServer).toBe(1);
    expect(p.stats()).toMatchObject({ inFlight: 0, waiting: 0, cancelled: 1 });
  });

  it('should take an aborted call out of the waiting queue, and refuse one aborted before it is sent', async () => {
    const s = server({ ping: () => new Promise(() => {}) });
    const p = await warmed(pool([s.port], { socketsPerAddress: 1, maxInFlightPerSocket: 1 }));
    const rpc = createRpcClient(p, 5000);
    void rpc.call('ping', {}).catch(() => {});
    const hangUp = new AbortController();
    const waiting = rpc.call('ping', {}, { signal: hangUp.signal });
    await Bun.sleep(10);
    expect(p.stats().waiting).toBe(1);
    hangUp.abort();
    expect((await rejection(waiting)).code).toBe(Status.CANCELLED);
    expect(p.stats().waiting).toBe(0);
    const late = await rejection(rpc.call('ping', {}, { signal: AbortSignal.abort() }));
    expect(late.code).toBe(Status.CANCELLED);
    expect(p.stats()).toMatchObject({ inFlight: 1, waiting: 0, cancelled: 2 });
  });

  // Connect errors were dropped: a server that could not be reached left no trace in the log.
  it('should refuse calls at once while its one server does not answer (hung, sockets open), say so once, and send again when it answers', async () => {
    const { lines, log } = logged<{ msg: string; address?: string; calls?: number }>();
    let hung = true;
    const s = scriptedServer((held) => {
      if (!hung) held.answer();
    });
    cleanups.push(() => s.stop());
    const p = await warmed(pool([s.port], {}, log));
    // Calls in flight wait, as for a server with slow work, until the probe tells them apart.
    const idempotent = rejection(ping(p, 10_000));
    const other = rawPing(p, false);
    const judged = await eventually(async () => p.stats().silent === 1, 5000);
    expect(judged).toBe(true);
    // The verdict: an idempotent call in flight is refused then, at once (no other server).
    const refusedInFlight = await idempotent;
    expect([refusedInFlight.code, refusedInFlight.message]).toEqual([
      Status.UNAVAILABLE,
      'no TCP server is answering',
    ]);
    const started = performance.now();
    const refused = await rejection(ping(p, 5000));
    expect(performance.now() - started).toBeLessThan(100);
    expect([refused.code, refused.message, refused.retryAfterS]).toEqual([
      Status.UNAVAILABLE,
      'no TCP server is answering',
      1,
    ]);
    const warned = lines.filter((l) => l.msg.startsWith('TCP server not answering'));
    expect(warned.map((l) => [l.address, l.calls])).toEqual([[`127.0.0.1:${s.port}`, 2]]);

    // It answers what it held (the probes among them): calls go to it again.
    hung = false;
    for (const held of s.held.splice(0)) held.answer();
    expect(await eventually(async () => p.stats().silent === 0, 2000)).toBe(true);
    expect((await ping(p)).serverId).toBe('scripted');
    expect(lines.filter((l) => l.msg === 'TCP server answering again').length).toBe(1);
    // The call that may not be sent twice waited for its own answer.
    expect((await other).status).toBe(Status.OK);
  });

  it('should close and reopen a socket that stays silent while the other sockets to its server answer', async () => {
    const { lines, log } = logged<{ msg: string; err?: { message?: string } }>();
    const s = silentOnFirstSocket();
    const p = await warmed(pool([s.port], {}, log));
    const outcomes: string[] = [];
    let sent = 0;
    const end = performance.now() + 3000;
    while (performance.now() < end) {
      sent++;
      void rawPing(p, false).then(
        () => outcomes.push('ok'),
        (err: RpcError) => outcomes.push(err.message),
      );
      await Bun.sleep(5);
    }
    expect(await eventually(async () => outcomes.length === sent, 10_000)).toBe(true);
    // Never the whole server refused: only the calls of the silent socket failed, once it was closed.
    expect(lines.filter((l) => l.msg.startsWith('TCP server not answering'))).toEqual([]);
    expect(outcomes.filter((o) => o === 'no TCP server is answering')).toEqual([]);
    const lost = lines.filter((l) => l.msg === 'connection to TCP server lost');
    expect(lost.length).toBeGreaterThan(0);
    expect(lost[0]?.err?.message).toContain('while the other sockets to this server answered');
    expect(s.sockets.length).toBeGreaterThan(2); // reopened
  });

  it('should tell a silent socket from a silent server when the other sockets are idle', async () => {
    const { lines, log } = logged<{ msg: string }>();
    const s = silentOnFirstSocket();
    const p = await warmed(pool([s.port], {}, log));
    // One call, on the silent socket; the other socket carries nothing, and is asked too.
    const started = performance.now();
    const idempotent = rawPing(p, true);
    // The silent socket is closed: the call is sent again on another socket and answered.
    expect((await idempotent).status).toBe(Status.OK);
    expect(performance.now() - started).toBeLessThan(4000);
    expect(lines.filter((l) => l.msg.startsWith('TCP server not answering'))).toEqual([]);
    expect(lines.filter((l) => l.msg === 'connection to TCP server lost').length).toBe(1);
    expect(p.stats().silent).toBe(0);
  });

  it('should keep sending to a server whose calls are slow while it answers its probes', async () => {
    // An upload or a slow hash holds its call for seconds; the event loop still answers a Ping.
    let holdNext = false;
    let slowHeld: HeldRequest | null = null;
    const s = scriptedServer((held) => {
      if (holdNext) {
        holdNext = false;
        slowHeld = held;
      } else held.answer();
    });
    cleanups.push(() => s.stop());
    const p = await warmed(pool([s.port], { socketsPerAddress: 1 }));
    holdNext = true;
    const slow = ping(p, 5000);
    await Bun.sleep(2500);
    const started = performance.now();
    expect((await ping(p)).serverId).toBe('scripted');
    expect(performance.now() - started).toBeLessThan(100);
    // It was asked (a Ping every half second while the slow call waited), and answered.
    expect(s.held.filter((h) => h.request.call.case === 'ping').length).toBeGreaterThan(3);
    (slowHeld as HeldRequest | null)?.answer();
    expect((await slow).serverId).toBe('scripted');
  });

  it('should log a streak of connect failures once, with its error, and the recovery', async () => {
    const { lines, log } = logged<{
      msg: string;
      address?: string;
      err?: string;
      failures?: number;
    }>();
    const s1 = server({ ping: () => ({ serverId: 'first' }) });
    const port = s1.port;
    await s1.stop(0);
    const p = pool([port], { socketsPerAddress: 2, backoffBaseMs: 5, backoffMaxMs: 20 }, log);
    p.warm();
    await Bun.sleep(500);
    expect(p.stats().connectFailures).toBeGreaterThan(10);
    const warnings = lines.filter((l) => l.msg.includes('connect to TCP server'));
    expect(warnings.length).toBe(1);
    expect(warnings[0]?.address).toBe(`127.0.0.1:${port}`);
    expect(warnings[0]?.err).toMatch(/refused|ECONNREFUSED/i);

    server({ ping: () => ({ serverId: 'second' }) }, port);
    const until = performance.now() + 2000;
    while (p.stats().open === 0 && performance.now() < until) await Bun.sleep(10);
    const recovered = lines.filter((l) => l.msg === 'connected to TCP server again');
    expect(recovered.length).toBe(1);
    expect(recovered[0]?.failures).toBeGreaterThan(10);
  });
});
