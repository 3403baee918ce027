import { afterEach, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../../src/gen/usermgr/v1/rpc_pb.ts';
import { silentLogger } from '../../src/log.ts';
import { createDispatch, type Handlers } from '../../src/tcp/dispatch.ts';
import { startTcpServer, type TcpServerOptions } from '../../src/tcp/server.ts';
import { encodeFrame } from '../../src/wire/frame.ts';
import { Status } from '../../src/wire/status.ts';
import { pingFrame, rawClient } from '../support/raw.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function server(handlers: Handlers, options: Partial<TcpServerOptions> = {}) {
  const s = startTcpServer(
    {
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1 << 20,
      maxConnections: 100,
      maxInFlightPerConnection: 1000,
      maxBufferedBytesPerConnection: 8 << 20,
      defaultDeadlineMs: 5000,
      partialFrameTimeoutMs: 10_000,
      ...options,
    },
    createDispatch(handlers, silentLogger),
    silentLogger,
  );
  cleanups.push(() => s.stop(0));
  return s;
}

const pinger: Handlers = { ping: () => ({ serverId: 'test' }) };

describe('integration: TCP server', () => {
  it('should close a connection that sends garbage and keep serving the others', async () => {
    const s = server(pinger);
    const good = await rawClient(s.port);
    const bad = await rawClient(s.port);
    bad.write(new Uint8Array(16).fill(0xff));
    await bad.closed;
    good.write(pingFrame(1));
    const [response] = await good.waitFor(1);
    expect(response?.status).toBe(Status.OK);
    expect(good.isClosed()).toBe(false);
    good.socket.end();
  });

  it('should decode a request written one byte at a time', async () => {
    const s = server(pinger);
    const client = await rawClient(s.port);
    const frame = pingFrame(42);
    for (const byte of frame) {
      client.write(new Uint8Array([byte]));
      await Bun.sleep(5);
    }
    const [response] = await client.waitFor(1);
    expect(response?.id).toBe(42);
    expect(response?.result.case).toBe('ping');
    client.socket.end();
  });

  it('should answer an unknown call with UNIMPLEMENTED', async () => {
    const s = server(pinger);
    const client = await rawClient(s.port);
    // Field 999 (a call this server does not know), length-delimited, empty.
    const unknown = new Uint8Array([0x08, 0x07, 0xba, 0x3e, 0x00]);
    client.write(new Uint8Array([unknown.length, ...unknown]));
    // A known call without a handler.
    const logout = create(RequestSchema, { id: 8, call: { case: 'logout', value: {} } });
    client.write(encodeFrame(RequestSchema, logout));
    const responses = await client.waitFor(2);
    expect(responses.map((r) => [r.id, r.status])).toEqual([
      [7, Status.UNIMPLEMENTED],
      [8, Status.UNIMPLEMENTED],
    ]);
    client.socket.end();
  });

  it('should refuse frames over the maximum by closing that connection', async () => {
    const s = server(pinger, { maxFrameBytes: 1024 });
    const client = await rawClient(s.port);
    client.write(new Uint8Array([0x81, 0x10])); // 2049 bytes declared
    await client.closed;
    expect(client.responses).toEqual([]);
  });

  it('should close a connection stuck inside a frame', async () => {
    const s = server(pinger, { partialFrameTimeoutMs: 200 });
    const client = await rawClient(s.port);
    client.write(new Uint8Array([10, 1])); // 10 bytes announced, 1 sent
    const started = performance.now();
    await client.closed;
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('should answer RESOURCE_EXHAUSTED beyond the in-flight limit of a connection', async () => {
    const s = server(
      { ping: () => Bun.sleep(100).then(() => ({ serverId: 'slow' })) },
      { maxInFlightPerConnection: 2 },
    );
    const client = await rawClient(s.port);
    client.write(Buffer.concat([pingFrame(1), pingFrame(2), pingFrame(3)]));
    const responses = await client.waitFor(3);
    expect(responses.map((r) => [r.id, r.status])).toEqual([
      [3, Status.RESOURCE_EXHAUSTED],
      [1, Status.OK],
      [2, Status.OK],
    ]);
    client.socket.end();
  });

  it('should close connections beyond the connection limit', async () => {
    const s = server(pinger, { maxConnections: 3 });
    const clients = await Promise.all(Array.from({ length: 6 }, () => rawClient(s.port)));
    await Bun.sleep(100);
    expect(clients.filter((c) => c.isClosed()).length).toBe(3);
    expect(s.connections).toBe(3);
    for (const c of clients) c.socket.end();
  });

  it('should finish in-flight requests on graceful shutdown, then refuse connections', async () => {
    const s = server({ ping: () => Bun.sleep(200).then(() => ({ serverId: 'finishing' })) });
    const client = await rawClient(s.port);
    client.write(Buffer.concat([pingFrame(1), pingFrame(2), pingFrame(3)]));
    await Bun.sleep(20);
    await s.stop(5000);
    const okIds = client.responses.filter((r) => r.status === Status.OK).map((r) => r.id);
    expect(okIds.sort()).toEqual([1, 2, 3]);
    // The shutdown notice (id 0) came first.
    expect(client.responses[0]).toMatchObject({ id: 0, status: Status.UNAVAILABLE });
    await client.closed;
    expect(rawClient(s.port)).rejects.toThrow();
  });

  it('should cancel a call on a cancel frame with its id, answer nothing for it, and serve the rest', async () => {
    const cancelled: number[] = [];
    const s = server({
      ping: (_req, ctx) =>
        new Promise((resolve) => {
          ctx.deadline.signal.addEventListener('abort', () => {
            cancelled.push(s.inFlight);
            resolve({ serverId: 'nobody reads this' });
          });
        }),
      getAccountRules: () => ({}),
    });
    const client = await rawClient(s.port);
    client.write(pingFrame(5));
    client.write(encodeFrame(RequestSchema, create(RequestSchema, { id: 6, cancel: {} }))); // unknown: ignored
    client.write(encodeFrame(RequestSchema, create(RequestSchema, { id: 5, cancel: {} })));
    const rules = create(RequestSchema, { id: 7, call: { case: 'getAccountRules', value: {} } });
    client.write(encodeFrame(RequestSchema, rules));
    const responses = await client.waitFor(1);
    await Bun.sleep(50);
    expect(cancelled).toEqual([1]);
    expect(responses.map((r) => [r.id, r.status])).toEqual([[7, Status.OK]]);
    expect(s.inFlight).toBe(0);
    client.socket.end();
  });

  it('should cancel every call of a socket that closes', async () => {
    let cancelled = 0;
    const s = server({
      ping: (_req, ctx) =>
        new Promise((resolve) =>
          ctx.deadline.signal.addEventListener('abort', () => {
            cancelled++;
            resolve({ serverId: 'gone' });
          }),
        ),
    });
    const client = await rawClient(s.port);
    for (let id = 1; id <= 3; id++) client.write(pingFrame(id));
    await Bun.sleep(20);
    expect(s.inFlight).toBe(3);
    client.socket.end();
    const until = performance.now() + 2000;
    while (s.inFlight > 0 && performance.now() < until) await Bun.sleep(5);
    expect(cancelled).toBe(3);
    expect(s.inFlight).toBe(0);
  });
});
