import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { type Stack, startStack } from './fixture.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());

describe('integration: HTTP server against the real TCP server', () => {
  it('should be alive and ready, naming the TCP server that answered', async () => {
    expect((await stack.fetch('/healthz')).status).toBe(200);
    const ready = await stack.fetch('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', tcpServer: stack.tcp.serverId });
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
