import { describe, expect, it } from 'bun:test';
import pino from 'pino';
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
      expect(res.headers.get('retry-after')).toBe('1');
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

describe('unit: methods a route does not take', () => {
  it('should answer 405 naming the methods in Allow, for any path a route serves', async () => {
    const { app: a, calls } = app(() => ({}));
    for (const [method, path, allow] of [
      ['PUT', '/healthz', 'GET, HEAD'],
      ['POST', '/api/v1/me/sessions', 'GET, HEAD'],
      ['GET', '/api/v1/me/sessions/AAAAAAAAAAAAAAAAAAAAAA', 'DELETE'],
      ['OPTIONS', '/open_api/v1/authenticate', 'POST'],
      ['POST', '/api/v1/me', 'DELETE, GET, HEAD, PATCH'],
    ] as const) {
      const res = await a.request(path, { method });
      expect({ method, path, status: res.status, allow: res.headers.get('allow') }).toEqual({
        method,
        path,
        status: 405,
        allow,
      });
      expect(await res.json()).toEqual({
        error: { code: 'METHOD_NOT_ALLOWED', message: `this route takes ${allow}` },
      });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(calls).toEqual([]);
  });

  it('should keep 404 for the admin routes (off, they must look absent) and for pages', async () => {
    const { app: a } = app(() => ({}));
    for (const [method, path] of [
      ['PATCH', '/users/1'],
      ['DELETE', '/users'],
    ] as const) {
      expect((await a.request(path, { method })).status).toBe(404);
    }
    const page = await a.request('/no-such-page', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toContain('text/html');
  });
});

describe('unit: the request log', () => {
  // A failure audit: every request of an outage was a line, 49,375 in 4 s.
  it('should log at most 20 failed requests in 10 s, the histogram counting every one', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const a = createApp({
      rpc: fakeRpc(() => {
        throw new RpcError(Status.UNAVAILABLE, 'no TCP server is answering', { retryAfterS: 1 });
      }).rpc,
      http: config.http,
      log,
    });
    for (let i = 0; i < 60; i++) {
      const res = await a.request('/open_api/v1/authenticate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'someone', password: 'a password' }),
      });
      expect(res.status).toBe(503);
    }
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.length).toBe(20);
    expect(requests[0]).toMatchObject({ route: '/open_api/v1/authenticate', status: 503 });
  });
});
