import { describe, expect, it } from 'bun:test';
import { loadHttpConfig } from '../../config/http-config.ts';
import { silentLogger } from '../../log.ts';
import type { CallOptions, RpcClient } from '../../rpc/client.ts';
import type { CallName } from '../../wire/calls.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { createApp } from '../app.ts';

interface Call {
  name: CallName;
  input: Record<string, unknown>;
  options: CallOptions | undefined;
}

const USER = {
  id: '250558285122371584',
  username: 'alice',
  nickname: 'Alice 🚀',
  picture: '',
  createdAtMs: 1_795_000_000_000n,
  updatedAtMs: 1_795_000_000_123n,
};

/** The app over a fake RPC client that records every call and answers with `answer`. */
function app(answer: (call: Call) => unknown = () => ({ user: USER })) {
  const calls: Call[] = [];
  const rpc: RpcClient = {
    async call(name, input, options) {
      const call = { name, input: input as Record<string, unknown>, options };
      calls.push(call);
      return answer(call) as never;
    },
  };
  const a = createApp({ rpc, http: loadHttpConfig({}).http, log: silentLogger });
  return { calls, request: (path: string, init?: RequestInit) => a.request(path, init) };
}

const auth = { authorization: 'Bearer the-admin-token' };
const json = { ...auth, 'content-type': 'application/json' };

describe('unit: admin routes', () => {
  it('should create with 201, a Location header and the user with timestamps', async () => {
    const { request, calls } = app();
    const res = await request('/users', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ username: 'alice', password: 'long enough' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/users/${USER.id}`);
    expect(await res.json()).toEqual({
      user: {
        id: USER.id,
        username: 'alice',
        nickname: 'Alice 🚀',
        picture_url: null,
        created_at: '2026-11-18T11:06:40.000Z',
        updated_at: '2026-11-18T11:06:40.123Z',
        two_step: false,
      },
    });
    expect(calls.map((c) => [c.name, c.input])).toEqual([
      [
        'adminCreateUser',
        { adminToken: 'the-admin-token', username: 'alice', password: 'long enough', nickname: '' },
      ],
    ]);
  });

  it('should pass the bearer token only from the Authorization header, never from a cookie', async () => {
    const { request, calls } = app();
    await request('/users/1', { headers: { cookie: 'session=the-admin-token' } });
    await request('/users/1', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    await request('/users/1', { headers: { authorization: 'bearer  tok.en+/= ' } });
    expect(calls.map((c) => c.input.adminToken)).toEqual(['', '', 'tok.en+/=']);
  });

  it('should send a request id and the client address, and answer with the request id', async () => {
    const { request, calls } = app();
    // A client's own id is not taken (only a trusted proxy's): audit lines carry ours.
    const given = await request('/users/1', { headers: { ...auth, 'x-request-id': 'ops-42.a' } });
    const made = given.headers.get('x-request-id') as string;
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    const again = await request('/users/1', { headers: { ...auth, 'x-request-id': 'ops-42.a' } });
    const other = again.headers.get('x-request-id') as string;
    expect(other).not.toBe(made);
    expect(calls.map((c) => c.options?.requestId)).toEqual([made, other]);
  });

  it('should answer with the request id also when the call fails', async () => {
    const { request, calls } = app(() => {
      throw new RpcError(Status.UNAUTHENTICATED, 'this needs the admin token');
    });
    const res = await request('/users/1', { headers: auth });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe(calls[0]?.options?.requestId as string);
  });

  it('should answer DELETE with 204 and no body', async () => {
    const { request, calls } = app(() => ({}));
    const res = await request('/users/42', { method: 'DELETE', headers: auth });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(calls.map((c) => [c.name, c.input.id])).toEqual([['adminDeleteUser', '42']]);
  });

  it('should send only the fields a PUT names', async () => {
    const { request, calls } = app();
    const res = await request('/users/7', {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ nickname: 'New' }),
    });
    expect(res.status).toBe(200);
    expect(calls[0]?.input).toEqual({
      adminToken: 'the-admin-token',
      id: '7',
      nickname: 'New',
      password: undefined,
      username: undefined,
    });
  });

  it('should pass two_step: false on, and show whether two-step login is on', async () => {
    const { request, calls } = app(() => ({ user: USER, twoStep: false }));
    const res = await request('/users/7', {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ two_step: false }),
    });
    expect(res.status).toBe(200);
    expect(calls[0]?.input).toMatchObject({ id: '7', twoStep: false });
    expect(((await res.json()) as { user: { two_step: unknown } }).user.two_step).toBe(false);
    const on = app(() => ({ user: USER, twoStep: true }));
    const shown = await on.request('/users/7', { headers: auth });
    expect(((await shown.json()) as { user: { two_step: unknown } }).user.two_step).toBe(true);
  });

  it('should list with next_cursor null on the last page', async () => {
    const pages = [
      { users: [USER, { ...USER, id: '8' }], nextCursor: 'djE6aWQ6MQ', twoStep: [false, true] },
      { users: [], nextCursor: '', twoStep: [] },
    ];
    const { request, calls } = app(() => pages.shift());
    const first = await request('/users?limit=1', { headers: auth });
    expect(await first.json()).toMatchObject({
      next_cursor: 'djE6aWQ6MQ',
      users: [
        { id: USER.id, two_step: false },
        { id: '8', two_step: true },
      ],
    });
    const last = await request('/users?limit=1&cursor=djE6aWQ6MQ&username_prefix=', {
      headers: auth,
    });
    expect(await last.json()).toEqual({ users: [], next_cursor: null });
    expect(calls.map((c) => [c.input.limit, c.input.cursor, c.input.usernamePrefix])).toEqual([
      [1, '', ''],
      [1, 'djE6aWQ6MQ', ''],
    ]);
  });
});

describe('unit: admin routes refusing malformed requests', () => {
  const cases: [string, string, RequestInit | undefined, string][] = [
    ['a non-numeric id', '/users/abc', undefined, 'get'],
    ['an id with leading zeros', '/users/007', undefined, 'get'],
    ['an id beyond 64 bits', '/users/18446744073709551616', undefined, 'get'],
    ['an id of 21 digits', `/users/1${'0'.repeat(20)}`, { method: 'DELETE' }, 'delete'],
    ['limit=0', '/users?limit=0', undefined, 'list'],
    ['limit=abc', '/users?limit=abc', undefined, 'list'],
    ['limit=-5', '/users?limit=-5', undefined, 'list'],
    ['a 10-digit limit', '/users?limit=1000000000', undefined, 'list'],
    ['an unknown parameter', '/users?offset=100', undefined, 'list'],
    ['a repeated parameter', '/users?limit=5&limit=6', undefined, 'list'],
    ['a huge cursor', `/users?cursor=${'A'.repeat(600)}`, undefined, 'list'],
    ['a long prefix', `/users?username_prefix=${'a'.repeat(65)}`, undefined, 'list'],
    ['malformed JSON', '/users', { method: 'POST', body: '{"username":' }, 'create'],
    [
      'an unknown field',
      '/users',
      { method: 'POST', body: '{"username":"a","password":"b","role":"root"}' },
      'create',
    ],
    [
      'a numeric password',
      '/users',
      { method: 'POST', body: '{"username":"abc","password":12345678}' },
      'create',
    ],
    [
      'a null nickname in a PUT',
      '/users/5',
      { method: 'PUT', body: '{"nickname":null}' },
      'update',
    ],
    [
      'a two_step that is not a boolean',
      '/users/5',
      { method: 'PUT', body: '{"two_step":"off"}' },
      'update',
    ],
    ['a null two_step', '/users/5', { method: 'PUT', body: '{"two_step":null}' }, 'update'],
    [
      'an unknown field in a PUT',
      '/users/5',
      { method: 'PUT', body: '{"email":"a@b.c"}' },
      'update',
    ],
  ];

  it.each(cases)(
    'should refuse %s only after the TCP server accepted the token',
    async (_name, path, init, action) => {
      const { request, calls } = app(() => ({}));
      const res = await request(path, { ...init, headers: { ...json, ...init?.headers } });
      expect([400, 404]).toContain(res.status);
      expect(calls.map((c) => [c.name, c.input.action, c.input.adminToken])).toEqual([
        ['adminCheck', action, 'the-admin-token'],
      ]);
      expect(calls[0]?.input.refusal).toBe(
        res.status === 404 ? Status.NOT_FOUND : Status.INVALID_ARGUMENT,
      );
    },
  );

  it.each(cases)(
    'should answer %s with 401 for a caller without the token',
    async (_name, path, init) => {
      const { request } = app(() => {
        throw new RpcError(Status.UNAUTHENTICATED, 'this needs the admin token');
      });
      const res = await request(path, {
        ...init,
        headers: { 'content-type': 'application/json', ...init?.headers },
      });
      expect(res.status).toBe(401);
    },
  );

  it.each(cases)(
    'should answer %s with "no such route" when the admin API is off',
    async (_name, path, init) => {
      const { request } = app(() => {
        throw new RpcError(Status.NOT_FOUND, 'no such route');
      });
      const res = await request(path, { ...init, headers: { ...json, ...init?.headers } });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } });
    },
  );

  it('should name the user of a refused update in the check', async () => {
    const { request, calls } = app(() => ({}));
    await request('/users/5', { method: 'PUT', headers: json, body: '[]' });
    expect(calls[0]?.input).toMatchObject({ action: 'update', userId: '5' });
  });

  it('should refuse a body over the limit with 413, after the token check', async () => {
    const { request, calls } = app(() => ({}));
    const res = await request('/users', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ username: 'abc', password: 'p'.repeat(100_000) }),
    });
    expect(res.status).toBe(413);
    expect(calls.map((c) => c.name)).toEqual(['adminCheck']);
  });
});
