import { afterEach, describe, expect, it } from 'bun:test';
import type { Server } from 'bun';
import { counterFrom, createRegistry } from '../lib/metrics.ts';
import type { UserStore } from '../store/port.ts';
import { startOpsServer } from './ops-server.ts';

const store = { ping: async () => {} } as unknown as UserStore;
let server: Server<undefined> | null = null;
afterEach(() => {
  server?.stop(true);
  server = null;
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(new URL(path, server?.url));
  return { status: res.status, body: await res.text() };
}

describe('unit: the TCP server ops port', () => {
  it('should serve /metrics when metrics are on', async () => {
    const registry = createRegistry('tcp', false);
    counterFrom(registry, 'usermgr_test_total', 'A counter.', () => 7);
    server = startOpsServer(
      { host: '127.0.0.1', port: 0 },
      { registry, store, draining: () => false },
    );
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('usermgr_test_total{process="tcp"} 7');
  });

  it('should answer /metrics with a 404 that says metrics are off, and keep the probes', async () => {
    server = startOpsServer(
      { host: '127.0.0.1', port: 0 },
      { registry: null, store, draining: () => false },
    );
    expect(await get('/metrics')).toEqual({
      status: 404,
      body: JSON.stringify({
        error: { code: 'NOT_FOUND', message: 'metrics are off (METRICS_ENABLED=false)' },
      }),
    });
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('should answer an HTTP/1.0 probe without a Host header, not fail on its URL', async () => {
    server = startOpsServer(
      { host: '127.0.0.1', port: 0 },
      { registry: null, store, draining: () => false },
    );
    let answer = '';
    const socket = await Bun.connect({
      hostname: '127.0.0.1',
      port: server.port as number,
      socket: {
        data(_s, bytes) {
          answer += bytes.toString();
        },
      },
    });
    socket.write('GET /healthz HTTP/1.0\r\n\r\n');
    for (let i = 0; i < 100 && !answer.includes('"ok"'); i++) await Bun.sleep(10);
    socket.end();
    expect(answer).toStartWith('HTTP/1.1 200');
    expect(answer).toContain('{"status":"ok"}');
  });
});
