import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { hostname } from 'node:os';
import { type Stack, startStack } from './fixture.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());

describe('integration: HTTP server against the real TCP server', () => {
  it('should be alive and ready, without naming the host or process that answered', async () => {
    expect((await stack.fetch('/healthz')).status).toBe(200);
    const ready = await stack.fetch('/readyz');
    expect(ready.status).toBe(200);
    const body = await ready.text();
    expect(JSON.parse(body)).toEqual({ status: 'ready' });
    expect(body).not.toContain(hostname());
    expect(body).not.toContain(String(process.pid));
  });

  it('should answer HEAD with the length of the GET answer and no body', async () => {
    const login = await (await stack.fetch('/login')).text();
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(login)?.[1] as string;
    for (const path of ['/login', '/openapi.json', style, '/healthz']) {
      const get = new Uint8Array(await (await stack.fetch(path)).arrayBuffer());
      const head = await stack.fetch(path, { method: 'HEAD' });
      expect({ path, status: head.status, length: head.headers.get('content-length') }).toEqual({
        path,
        status: 200,
        length: String(get.byteLength),
      });
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('should stop being ready when the TCP server is gone', async () => {
    await stack.tcp.server.stop(1000);
    const ready = await stack.fetch('/readyz');
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { error: { code: string } };
    expect(body.error.code).toBe('UNAVAILABLE');
    expect((await stack.fetch('/healthz')).status).toBe(200);
  });
});
