/**
 * What the TCP port must not take on trust from whoever reaches it, on real
 * sockets against a real stack: a login that names no client address is
 * still under the per-address limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../src/gen/usermgr/v1/rpc_pb.ts';
import { encodeFrame } from '../src/wire/frame.ts';
import { Status } from '../src/wire/status.ts';
import { type Stack, startStack } from './fixture.ts';
import { rawClient } from './support/raw.ts';

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
