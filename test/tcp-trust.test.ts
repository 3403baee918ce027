/**
 * What the TCP port must not take on trust from whoever reaches it, on real
 * sockets: a login that names no client address is still under the
 * per-address limit; half-sent large frames cost the server at most a
 * server-wide budget, and their memory is given back when they close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import { silentLogger } from '../src/log.ts';
import { createDispatch } from '../src/tcp/dispatch.ts';
import { startTcpServer } from '../src/tcp/server.ts';
import { encodeFrame } from '../src/wire/frame.ts';
import { Status } from '../src/wire/status.ts';
import { type Stack, startStack } from './fixture.ts';
import { pingFrame, type RawClient, rawClient } from './support/raw.ts';

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
    const server = startTcpServer(
      {
        host: '127.0.0.1',
        port: 0,
        maxFrameBytes: 8 * MiB,
        maxConnections: 1000,
        maxInFlightPerConnection: 100,
        maxBufferedBytesPerConnection: 8 * MiB,
        maxPartialFrameBytes: budget,
        defaultDeadlineMs: 5000,
        partialFrameTimeoutMs: 60_000,
      },
      createDispatch({ ping: () => ({ serverId: 'budget' }) }, silentLogger),
      silentLogger,
    );
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
