/**
 * Metrics, health and logs on the real stack: the histograms move with the
 * traffic on both servers, the HTTP server's are on their own port, a request id travels from the HTTP server through
 * the frame into the TCP server's log lines, and no password, token or hash
 * is ever written to a log, even at debug level.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createLogger } from '../src/log.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';

const lines: string[] = [];
const log = createLogger('test', 'debug', { write: (line: string) => void lines.push(line) });
let stack: Stack;

beforeAll(async () => {
  // Behind a proxy of ours (TRUST_PROXY), whose X-Request-Id is kept.
  stack = await startStack({ log, env: { LOG_LEVEL: 'debug', TRUST_PROXY: 'true' } });
});
afterAll(() => stack?.stop());

const password = 'Secret-Pass-Word-42';

/** The value of one sample of a Prometheus text exposition, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`)))
      return Number(line.split(' ').at(-1));
  }
  return 0;
}

async function metrics(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

describe('integration: metrics, health and logs', () => {
  let token = '';

  it('should move the histograms and counters of both servers with the traffic', async () => {
    const ops = `http://127.0.0.1:${stack.tcp.opsPort}`;
    const beforeHttp = await metrics(stack.metricsUrl);
    const beforeTcp = await metrics(`${ops}/metrics`);
    await stack.fetch(
      '/open_api/v1/register',
      jsonInit('POST', { username: 'metrics_user', password }),
    );
    for (let i = 0; i < 3; i++) {
      const res = await stack.fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username: 'metrics_user', password }),
      );
      token = ((await res.json()) as { token: string }).token;
    }
    const afterHttp = await metrics(stack.metricsUrl);
    const afterTcp = await metrics(`${ops}/metrics`);
    const delta = (after: string, before: string, name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);

    const route = { route: '/open_api/v1/authenticate', method: 'POST', status: '200' };
    expect(delta(afterHttp, beforeHttp, 'usermgr_http_request_duration_seconds_count', route)).toBe(
      3,
    );
    expect(
      delta(afterHttp, beforeHttp, 'usermgr_rpc_duration_seconds_count', {
        call: 'login',
        status: 'OK',
      }),
    ).toBe(3);
    expect(sample(afterHttp, 'usermgr_pool_sockets_open', {})).toBeGreaterThan(0);
    expect(
      delta(afterTcp, beforeTcp, 'usermgr_tcp_call_duration_seconds_count', {
        call: 'login',
        status: 'OK',
      }),
    ).toBe(3);
    expect(delta(afterTcp, beforeTcp, 'usermgr_memo_lookups_total', { result: 'hit' })).toBe(2);
    expect(delta(afterTcp, beforeTcp, 'usermgr_hash_total', { kind: 'verify' })).toBe(1);
    expect(delta(afterTcp, beforeTcp, 'usermgr_hash_duration_seconds_count', {})).toBe(2); // sign-up hash, first login
    expect(
      delta(afterTcp, beforeTcp, 'usermgr_store_duration_seconds_count', {
        operation: 'create',
        outcome: 'ok',
      }),
    ).toBe(1);
    // The list of sessions: the logins' entries waiting for the store (their batch may
    // have gone already), none dropped.
    expect(afterTcp).toMatch(/^usermgr_session_list_pending\{[^}]*\} [0-3]$/m);
    expect(afterTcp).toMatch(/^usermgr_session_list_dropped_total\{[^}]*\} 0$/m);
    expect(afterTcp).toContain('nodejs_eventloop_lag_seconds');
  });

  it('should serve the HTTP metrics on HTTP_METRICS_PORT only, never on the public port', async () => {
    const publicPort = await stack.fetch('/metrics');
    expect(publicPort.status).toBe(404);
    expect(await publicPort.text()).not.toContain('usermgr_http_request_duration_seconds');
    const metricsUrl = new URL(stack.metricsUrl);
    expect(metricsUrl.port).not.toBe(new URL(stack.url).port);
    expect(await metrics(stack.metricsUrl)).toContain('usermgr_http_processes{process="http"} 1');
    // Nothing else answers there: not the API, not health.
    expect((await fetch(new URL('/healthz', metricsUrl))).status).toBe(404);
    expect((await fetch(new URL('/open_api/v1/authenticate', metricsUrl))).status).toBe(404);
  });

  it('should answer health and readiness on the TCP server port', async () => {
    const ops = `http://127.0.0.1:${stack.tcp.opsPort}`;
    expect((await fetch(`${ops}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${ops}/readyz`)).json()).toEqual({ status: 'ready' });
    expect((await fetch(`${ops}/nope`)).status).toBe(404);
  });

  it("should keep a trusted proxy's sane X-Request-Id, replace an unsafe one, and carry it into the TCP server log", async () => {
    const kept = await stack.fetch('/api/v1/me', {
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'trace-123.abc' },
    });
    expect(kept.headers.get('x-request-id')).toBe('trace-123.abc');
    const replaced = await stack.fetch('/healthz', {
      headers: { 'x-request-id': 'not <safe> at all' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const records = lines.map(
      (line) => JSON.parse(line) as { requestId?: string; msg: string; call?: string },
    );
    const traced = records.filter((r) => r.requestId === 'trace-123.abc');
    expect(traced.map((r) => r.msg).sort()).toEqual(['call', 'request']);
    expect(traced.find((r) => r.msg === 'call')?.call).toBe('getProfile');
  });

  it('should never log a password, a token or a hash', async () => {
    const hash = (await stack.tcp.store.findByUsername('metrics_user'))?.passwordHash ?? '';
    expect(hash).toStartWith('$argon2id$');
    expect(lines.length).toBeGreaterThan(10);
    const all = lines.join('');
    for (const secret of [
      password,
      token,
      token.split('.')[1] as string,
      hash,
      hash.split('$').at(-1) as string,
    ]) {
      expect(all.includes(secret)).toBe(false);
    }
  });
});

// An operator audit: a WORKER_ID set to nothing (a Kubernetes label the cluster lacks)
// was taken as 0 without a word, on every pod.
describe('integration: the start-up lines', () => {
  it("should name the server's WORKER_ID, and warn when it is set to nothing", async () => {
    const seen: string[] = [];
    const own = createLogger('tcp', 'info', { write: (line: string) => void seen.push(line) });
    const startLines = async (workerId: string) => {
      seen.length = 0;
      const s = await startStack({ log: own, env: { LOG_LEVEL: 'info', WORKER_ID: workerId } });
      await s.stop();
      return seen.map((line) => JSON.parse(line) as { msg: string; workerId?: number });
    };
    const empty = await startLines('');
    expect(empty.find((l) => l.msg === 'tcp server listening')?.workerId).toBe(0);
    expect(empty.filter((l) => l.msg.startsWith('WORKER_ID is set to nothing'))).toHaveLength(1);
    const given = await startLines('7');
    expect(given.find((l) => l.msg === 'tcp server listening')?.workerId).toBe(7);
    expect(given.filter((l) => l.msg.startsWith('WORKER_ID'))).toEqual([]);
  });
});
