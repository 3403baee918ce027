import { describe, expect, it } from 'bun:test';
import { loadHttpConfig } from '../config/http-config.ts';
import { silentLogger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';
import type { CallName } from '../wire/calls.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { createApp } from './app.ts';

/** A fake RPC client: answers each call with the given function, records what was called. */
function fakeRpc(answer: (name: CallName, input: unknown) => unknown) {
  const calls: CallName[] = [];
  const rpc: RpcClient = {
    async call(name, input) {
      calls.push(name);
      return answer(name, input) as never;
    },
  };
  return { rpc, calls };
}

const config = loadHttpConfig({});

function app(answer: (name: CallName, input: unknown) => unknown) {
  const fake = fakeRpc(answer);
  return {
    app: createApp({ rpc: fake.rpc, http: config.http, log: silentLogger }),
    calls: fake.calls,
  };
}

describe('unit: health routes', () => {
  it('should answer /healthz without calling the TCP server', async () => {
    const { app: a, calls } = app(() => {
      throw new Error('must not be called');
    });
    const res = await a.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(calls).toEqual([]);
  });

  // Regression: the answer named the TCP server's host and process id.
  it('should be ready when a ping succeeds, naming no server', async () => {
    const { app: a, calls } = app(() => ({ serverId: 'tcp-host:4242' }));
    const res = await a.request('/readyz');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ status: 'ready' });
    expect(body).not.toContain('tcp-host');
    expect(calls).toEqual(['ping']);
  });

  it('should answer 503 with the error body when the ping fails', async () => {
    for (const code of [Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]) {
      const { app: a } = app(() => {
        throw new RpcError(code, 'no TCP server is reachable');
      });
      const res = await a.request('/readyz');
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        error: { code: 'UNAVAILABLE', message: 'not ready: no TCP server is reachable' },
      });
    }
  });

  it('should answer unknown routes with a JSON 404', async () => {
    const { app: a } = app(() => ({}));
    const res = await a.request('/no/such/thing');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } });
  });
});
