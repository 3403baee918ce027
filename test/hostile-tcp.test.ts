/**
 * Hostile bytes on the TCP server's port (issue 8, item 2), one table: each
 * row sends what a broken or malicious peer would, and names what must
 * happen: the connection is closed within a bound, or the request is
 * answered with a status of the closed enum, or (a flood of connections)
 * the excess is refused while the connections already open keep working.
 * After every row the server still answers a ping on a fresh connection, no
 * connection is left open behind the row, and the stored users are what
 * they were.
 *
 * The HTTP-side table is test/hostile-input.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import type { UserRow } from '../src/store/port.ts';
import { FRAME_RATE_GRACE_MS } from '../src/tcp/server.ts';
import { encodeFrame } from '../src/wire/frame.ts';
import { Status } from '../src/wire/status.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { pingFrame, type RawClient, rawClient } from './support/raw.ts';

const MAX_FRAME_BYTES = 1024 * 1024;
const PARTIAL_FRAME_TIMEOUT_MS = 2500;
const MAX_CONNECTIONS = 2000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      HTTP_MAX_UPLOAD_BYTES: String(MAX_FRAME_BYTES - 64 * 1024),
      TCP_PARTIAL_FRAME_TIMEOUT_MS: String(PARTIAL_FRAME_TIMEOUT_MS),
      TCP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    },
  });
  const res = await stack.fetch(
    '/open_api/v1/register',
    jsonInit('POST', { username: 'tcp_victim', password: 'correct horse battery' }),
  );
  expect(res.status).toBe(200);
});
afterAll(() => stack?.stop());

/** Every stored user, in id order: what no row may change. */
async function storedUsers(): Promise<UserRow[]> {
  return stack.tcp.store.list({
    limit: 500,
    usernamePrefix: '',
    afterId: null,
    afterUsername: null,
  });
}

/** A frame of exactly these body bytes (a correct length prefix, any content). */
function frameOf(body: number[]): Uint8Array {
  const prefix: number[] = [];
  let n = body.length;
  do {
    prefix.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Uint8Array.from([...prefix, ...body]);
}

/** Resolves with how long the server took to close the client, or rejects after `withinMs`. */
async function closedWithin(client: RawClient, withinMs: number, since = performance.now()) {
  const timeout = Bun.sleep(withinMs).then(() => 'open' as const);
  const outcome = await Promise.race([client.closed.then(() => 'closed' as const), timeout]);
  expect(outcome).toBe('closed');
  return performance.now() - since;
}

/**
 * The most descriptors this process may hold. Bun raises its soft limit to
 * the hard limit at start-up, so this is `ulimit -Hn` of the shell that ran
 * the tests. Infinity where /proc is not there to say.
 */
function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

interface Flood {
  opened: number;
  /** The most connections the server held at once (besides those open before). */
  held: number;
  /** The stack's HTTP server answering /readyz while flooded: the pool's sockets, open before, still work. */
  readyWhileFlooded: number;
  /** Whether a connection made while the server was full was closed at once. */
  newcomerRefused: boolean;
}

/**
 * Opens `count` connections at once and holds them until the server has
 * taken what it will take. Client and server ends are both in this process,
 * so where its open-file limit is too low for all of them, they are opened
 * in batches (each batch still far over the server's cap).
 *
 * The excess is refused by the server (a reset on accept: the connect fails
 * or the socket closes), or, beyond the kernel's accept queue, never
 * reaches it at all; neither costs the server anything.
 */
async function flood(port: number, count: number): Promise<Flood> {
  const spare = openFileLimit() - MAX_CONNECTIONS - 1000;
  if (spare < MAX_CONNECTIONS + 500) {
    throw new Error(
      `this process may open ${openFileLimit()} files, too few for the flood row: raise the hard limit (ulimit -Hn ${count + MAX_CONNECTIONS + 1000})`,
    );
  }
  const batch = Math.min(count, spare);
  if (batch < count)
    console.info(`flood: ${count} connections in batches of ${batch} (open-file limit)`);
  const outcome: Flood = { opened: 0, held: 0, readyWhileFlooded: 0, newcomerRefused: false };
  const baseline = stack.tcp.server.connections;
  for (let done = 0; done < count; done += batch) {
    const size = Math.min(batch, count - done);
    const sockets = await Promise.all(
      Array.from({ length: size }, () =>
        Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {}, error() {} } }).catch(
          () => null,
        ),
      ),
    );
    outcome.opened += size;
    // Settled when the count of held connections stops moving.
    let held = -1;
    for (let i = 0; i < 250 && stack.tcp.server.connections - baseline !== held; i++) {
      held = stack.tcp.server.connections - baseline;
      await Bun.sleep(40);
    }
    outcome.held = Math.max(outcome.held, held);
    if (done === 0) {
      outcome.readyWhileFlooded = (await stack.fetch('/readyz')).status;
      const newcomer = await rawClient(port).catch(() => null);
      outcome.newcomerRefused =
        newcomer === null ||
        (await Promise.race([newcomer.closed.then(() => true), Bun.sleep(1000).then(() => false)]));
    }
    // Reset, not end(): a FIN to a connection still waiting beyond the accept
    // queue is retransmitted for seconds before the server sees it.
    for (const socket of sockets) socket?.terminate();
  }
  return outcome;
}

type Expectation =
  /** The server closes the connection within `withinMs`, answering nothing. */
  | { closed: { withinMs: number; afterMs?: number } }
  /** The server answers with these ids and statuses and keeps the connection. */
  | { answers: [id: number, status: Status, message?: string][] };

type Row =
  | {
      name: string;
      /** What the peer does; returns the client so the expectation can be checked. */
      send(port: number): Promise<RawClient>;
      expect: Expectation;
    }
  /** This many connections opened at once. */
  | { name: string; flood: number };

const rows: Row[] = [
  {
    name: 'a length varint of 11 bytes',
    async send(port) {
      const client = await rawClient(port);
      client.write(Uint8Array.from([...Array(10).fill(0x80), 0x01]));
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  {
    name: 'a length of 2^32 - 1',
    async send(port) {
      const client = await rawClient(port);
      client.write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  {
    name: 'a length one byte over MAX_FRAME_BYTES',
    async send(port) {
      const client = await rawClient(port);
      const size = MAX_FRAME_BYTES + 1;
      client.write(
        Uint8Array.from([(size & 0x7f) | 0x80, ((size >> 7) & 0x7f) | 0x80, size >> 14]),
      );
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  {
    name: 'a close in the middle of a frame',
    async send(port) {
      const client = await rawClient(port);
      // 40 bytes announced, 3 sent (the start of a Request: id 1, then a tag).
      client.write(Uint8Array.from([40, 0x08, 0x01, 0x12]));
      await Bun.sleep(20);
      client.socket.end();
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  {
    name: 'one byte per second (closed once the frame-rate grace is over: under the floor)',
    async send(port) {
      const client = await rawClient(port);
      const frame = encodeFrame(
        RequestSchema,
        create(RequestSchema, {
          id: 9,
          requestId: 'slow'.repeat(10),
          call: { case: 'ping', value: {} },
        }),
      );
      (async () => {
        for (const byte of frame) {
          if (client.isClosed()) return;
          client.write(Uint8Array.of(byte));
          await Bun.sleep(1000);
        }
      })();
      return client;
    },
    // Closed after the grace (not before), and well before the frame could finish.
    expect: {
      closed: { afterMs: FRAME_RATE_GRACE_MS - 50, withinMs: FRAME_RATE_GRACE_MS + 1500 },
    },
  },
  {
    name: 'a large frame at 100 KiB/s (above the floor, but closed at the partial-frame deadline, which arriving does not extend)',
    async send(port) {
      const client = await rawClient(port);
      const size = MAX_FRAME_BYTES - 16;
      const header = [(size & 0x7f) | 0x80, ((size >> 7) & 0x7f) | 0x80, size >> 14];
      client.write(Uint8Array.from(header));
      // Ten seconds of bytes at this pace, four times the deadline.
      (async () => {
        const chunk = new Uint8Array(10 * 1024);
        for (let sent = 0; sent < size && !client.isClosed(); sent += chunk.length) {
          client.write(chunk);
          await Bun.sleep(100);
        }
      })();
      return client;
    },
    expect: {
      closed: { afterMs: PARTIAL_FRAME_TIMEOUT_MS - 50, withinMs: PARTIAL_FRAME_TIMEOUT_MS + 1500 },
    },
  },
  {
    name: 'an unknown call (field 999), then a known one on the same connection',
    async send(port) {
      const client = await rawClient(port);
      // id 7, then field 999 length-delimited and empty: a call this server does not know.
      client.write(frameOf([0x08, 0x07, 0xba, 0x3e, 0x00]));
      client.write(pingFrame(8));
      return client;
    },
    expect: {
      answers: [
        [7, Status.UNIMPLEMENTED, 'unknown call'],
        [8, Status.OK],
      ],
    },
  },
  {
    // protobuf-es reads a declared field as its declared type whatever the
    // tag says: without the wire-type check this decoded as an empty Ping and
    // was answered OK.
    name: 'a call with the wrong wire type (a Ping sent as varint 0)',
    async send(port) {
      const client = await rawClient(port);
      client.write(frameOf([0x08, 0x05, 0x80, 0x01, 0x00]));
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  {
    // Without the wire-type check the varint was read as the string's
    // length, and the Register created the user 'wire_type_user'.
    name: 'a Register whose username has the wrong wire type',
    async send(port) {
      const client = await rawClient(port);
      const text = (value: string) => [value.length, ...new TextEncoder().encode(value)];
      // RegisterRequest: username (1) tagged varint (0x08), password (2) length-delimited.
      const register = [0x08, ...text('wire_type_user'), 0x12, ...text('correct horse battery')];
      // Request: id 9, register (17) length-delimited.
      client.write(frameOf([0x08, 0x09, 0x8a, 0x01, register.length, ...register]));
      return client;
    },
    expect: { closed: { withinMs: 1000 } },
  },
  { name: `10,000 connections opened at once (at most ${MAX_CONNECTIONS} held)`, flood: 10_000 },
];

/** Sends a row's bytes and checks what the server did with the connection. */
async function sendRow(row: Exclude<Row, { flood: number }>): Promise<void> {
  const started = performance.now();
  const client = await row.send(stack.tcpPort);
  if ('closed' in row.expect) {
    const { withinMs, afterMs = 0 } = row.expect.closed;
    const took = await closedWithin(client, withinMs, started);
    expect(took).toBeGreaterThanOrEqual(afterMs);
    expect(client.responses).toEqual([]);
    return;
  }
  const want = row.expect.answers;
  const got = await client.waitFor(want.length);
  expect(got.map((r) => [r.id, r.status, r.message])).toEqual(
    want.map(([id, status, message]) => [id, status, message ?? '']),
  );
  expect(client.isClosed()).toBe(false);
  client.socket.end();
  await client.closed;
}

describe('integration: hostile bytes on the TCP port', () => {
  for (const row of rows) {
    it(`should survive ${row.name}`, async () => {
      const before = await storedUsers();
      const connectionsBefore = stack.tcp.server.connections;
      if ('flood' in row) {
        const held = MAX_CONNECTIONS - connectionsBefore;
        expect(await flood(stack.tcpPort, row.flood)).toEqual({
          opened: row.flood,
          held,
          readyWhileFlooded: 200,
          newcomerRefused: true,
        });
      } else {
        await sendRow(row);
      }
      // The server is up and serves a clean connection.
      const clean = await rawClient(stack.tcpPort);
      clean.write(pingFrame(77));
      const [pong] = await clean.waitFor(1);
      expect(pong?.status).toBe(Status.OK);
      clean.socket.end();
      await clean.closed;
      // Nothing left behind, nothing stored.
      const until = performance.now() + 5000;
      while (stack.tcp.server.connections > connectionsBefore && performance.now() < until)
        await Bun.sleep(10);
      expect(stack.tcp.server.connections).toBe(connectionsBefore);
      expect(await storedUsers()).toEqual(before);
    });
  }
});
