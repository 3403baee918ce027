import { describe, expect, it } from 'bun:test';
import type {
  OperationObject as Operation,
  ParameterObject as Parameter,
  ReferenceObject as Ref,
  SchemaObject as Schema,
} from 'openapi3-ts/oas31';
import {
  type Method,
  pointer,
  schemaCompiler,
  validateAt,
  validateOpenApi,
} from '../../../test/support/openapi.ts';
import { loadHttpConfig } from '../../config/http-config.ts';
import { checkUsername } from '../../core/validation.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { silentLogger } from '../../log.ts';
import type { RpcClient } from '../../rpc/client.ts';
import { ACCOUNT_RULES } from '../../wire/account-rules.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { createApp } from '../app.ts';
import { openApiDocument } from './document.ts';

const paths = openApiDocument.paths ?? {};

/** What the stub answers every call but AdminCheck with: a request that reached it passed this server's checks. */
const REACHED_RPC = 503;
const app = createApp({
  rpc: {
    // AdminCheck lets a refusal stand, as for the holder of the token.
    call: async (name: string) => {
      if (name === 'adminCheck') return {};
      throw new RpcError(Status.UNAVAILABLE, 'stub');
    },
  } as unknown as RpcClient,
  http: loadHttpConfig({}).http,
  log: silentLogger,
  // As the server runs it, with a registry (its /metrics is on another port).
  metrics: createRegistry('http'),
});

/**
 * Routes that may stay out of the document: HTML pages for browsers, which
 * answer markup rather than a contract a client programs against. Each entry
 * must say why. Every JSON route must be described.
 */
const page = 'an HTML page for browsers (form posts answer 303 redirects), not an API';
const UNDESCRIBED: Record<string, string> = {
  'GET /': 'redirects a browser to /profile or /login',
  'GET /login': page,
  'POST /login': page,
  'GET /register': page,
  'POST /register': page,
  'GET /profile': page,
  'POST /profile/nickname': page,
  'POST /profile/picture': page,
  'POST /profile/picture/remove': page,
  'POST /profile/password': page,
  'POST /profile/logout-all': page,
  'POST /profile/sessions/end': page,
  'POST /profile/delete': page,
  'POST /profile/totp': page,
  'GET /profile/totp': page,
  'POST /profile/totp/confirm': page,
  'POST /profile/totp/disable': page,
  'GET /login/code': page,
  'POST /login/code': page,
  'GET /logout': page,
  'POST /logout': page,
  'GET /assets/{file}': "the pages' stylesheet and script, under content-hashed names",
  'GET /favicon.ico': 'answers 204 so browsers stop asking',
};

/** "METHOD /path/{param}" for every route the app serves. */
function appRoutes(): string[] {
  const routes = new Set<string>();
  for (const { method, path } of app.routes) {
    // app.use() middleware is registered as ALL on a wildcard; the app has no all() routes.
    if (method === 'ALL') {
      expect(path).toEndWith('*');
      continue;
    }
    routes.add(`${method} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
  }
  return [...routes].filter((route) => !(route in UNDESCRIBED)).sort();
}

function describedRoutes(): string[] {
  return Object.entries(paths)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

function operations(): [string, Method, Operation][] {
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Method, Operation] => [
      path,
      method as Method,
      op as Operation,
    ]),
  );
}

/** The node a local reference points at, or undefined. */
function lookUp(ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>(
      (node, key) => (node as Record<string, unknown> | undefined)?.[key],
      openApiDocument,
    );
}

function refsIn(node: unknown): string[] {
  if (node === null || typeof node !== 'object') return [];
  const own = '$ref' in node ? [(node as Ref).$ref] : [];
  return [...own, ...Object.values(node).flatMap(refsIn)];
}

/** The JSON pointer of every schema in the document: components and those written in place. */
function schemaPointers(node: unknown, at: string[] = []): string[] {
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) => {
    const here = [...at, key];
    const isSchema =
      key === 'schema' || (at.join('/') === 'components/schemas' && !('$ref' in value));
    return isSchema ? [pointer(...here)] : schemaPointers(value, here);
  });
}

describe('unit: OpenAPI document', () => {
  it('should describe exactly the routes the app serves', () => {
    expect(appRoutes().length).toBeGreaterThan(10);
    expect(describedRoutes()).toEqual(appRoutes());
  });

  it('should resolve every reference', () => {
    for (const ref of refsIn(openApiDocument)) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>(
          (n, k) => (n as Record<string, unknown> | undefined)?.[k],
          openApiDocument,
        );
      expect(target, ref).toBeDefined();
    }
  });

  it('should give each operation a unique id, a success answer and its path parameters', () => {
    const ids = operations().map(([, , op]) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [path, method, op] of operations()) {
      expect(
        Object.keys(op.responses ?? {}).some((s) => s.startsWith('2')),
        `${method} ${path}`,
      ).toBe(true);
      const declared = (op.parameters ?? [])
        .map((p) => ('$ref' in p ? (lookUp(p.$ref) as Parameter) : p))
        .filter((p) => p.in === 'path')
        .map((p) => p.name);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(declared, `${method} ${path}`).toEqual(inPath as string[]);
    }
  });

  it('should mark every admin operation as needing the admin token, answering 401 and 404', () => {
    const adminOps = operations().filter(([path]) => path.startsWith('/users'));
    expect(adminOps).toHaveLength(5);
    for (const [, , op] of adminOps) {
      expect(op.security).toEqual([{ adminToken: [] }]);
      expect(Object.keys(op.responses ?? {})).toContain('401');
      expect(Object.keys(op.responses ?? {})).toContain('404');
    }
  });

  it('should be valid OpenAPI 3.1 by the official schema', async () => {
    expect(await validateOpenApi(openApiDocument)).toEqual([]);
    // The validator can fail: a document without the required `info` is refused.
    const { info: _, ...noInfo } = openApiDocument;
    expect(await validateOpenApi(noInfo)).not.toEqual([]);
  });

  it('should name the server that serves it, relative to where it was fetched', () => {
    expect(openApiDocument.servers).toEqual([
      { url: '/', description: 'The server that serves this document.' },
    ]);
  });

  it('should hold only schemas that compile under strict JSON Schema 2020-12', () => {
    const compiler = schemaCompiler(openApiDocument);
    const found = schemaPointers(openApiDocument);
    expect(found.length).toBeGreaterThan(30);
    for (const at of found) compiler.schemaAt(at);
    // Strict mode refuses what the official schema lets through inside a schema.
    for (const broken of [{ maxLenght: 3 }, { type: 'strin' }]) {
      const document = { ...openApiDocument, components: { schemas: { X: broken } } };
      expect(() => schemaCompiler(document).schemaAt('/components/schemas/X')).toThrow();
    }
  });

  it('should list each value of every enum once (JSON Schema wants them unique)', () => {
    const repeated: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) {
        for (const [i, item] of node.entries()) walk(item, `${at}/${i}`);
      } else if (node !== null && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === 'enum' && Array.isArray(value) && new Set(value).size !== value.length)
            repeated.push(`${at}/enum`);
          walk(value, `${at}/${key}`);
        }
      }
    };
    walk(openApiDocument, '');
    expect(repeated).toEqual([]);
  });

  it('should state the account rules the TCP server applies', () => {
    const usernames = ['abc', 'A.b-c_9', 'x'.repeat(32), 'ab', 'x'.repeat(33), 'a b', 'ünï', ''];
    for (const schema of ['User', 'NewUser', 'NewAdminUser', 'Credentials']) {
      const at = pointer('components', 'schemas', schema, 'properties', 'username');
      for (const username of usernames) {
        expect(validateAt(username, at).length === 0, `${schema} ${username}`).toBe(
          'value' in checkUsername(username),
        );
      }
    }
    const nickname = pointer('components', 'schemas', 'User', 'properties', 'nickname');
    // JSON Schema counts code points: the schema holds the code-point bound, the words the rest.
    const { maxChars, maxCodePoints } = ACCOUNT_RULES.nickname;
    expect(validateAt('👩🏽‍💻'.repeat(maxChars), nickname)).toEqual([]);
    expect(validateAt('🚀'.repeat(maxCodePoints + 1), nickname)).not.toEqual([]);
    expect(JSON.stringify(openApiDocument.components?.schemas?.User)).toContain(
      `1 to ${maxChars} characters as drawn`,
    );
    const rules = JSON.stringify(openApiDocument.components?.schemas?.NewUser);
    expect(rules).toContain(
      `${ACCOUNT_RULES.password.minChars} to ${ACCOUNT_RULES.password.maxChars}`,
    );
    expect(rules).toContain(
      `${ACCOUNT_RULES.nickname.minChars} to ${ACCOUNT_RULES.nickname.maxChars}`,
    );
  });

  it('should declare the JSON bodies the routes accept: types, required fields, unknown fields', async () => {
    const valid: Record<string, string> = {
      username: 'alice',
      password: 'correct horse',
      nickname: 'Ẓoë 🚀',
      current_password: 'correct horse',
      new_password: 'battery staple',
      otp: '123456',
      code: '123456',
    };
    const send = (method: Method, path: string, body: unknown) =>
      app.request(path.replace('{id}', '1'), {
        method: method.toUpperCase(),
        headers: { 'content-type': 'application/json', authorization: 'Bearer token' },
        body: JSON.stringify(body),
      });
    const withBodies = operations().filter(([, , op]) => op.requestBody !== undefined);
    let checked = 0;
    for (const [path, method, op] of withBodies) {
      const ref = (op.requestBody as { content: Record<string, { schema: Ref }> }).content[
        'application/json'
      ]?.schema.$ref;
      if (ref === undefined) continue; // a picture upload, not JSON
      checked++;
      const at = ref.slice(1);
      const schema = lookUp(ref) as Schema;
      const fields = Object.keys(schema.properties ?? {});
      const full = Object.fromEntries(fields.map((name) => [name, valid[name]]));
      const what = (change: string) => `${method.toUpperCase()} ${path} ${change}`;
      expect(validateAt(full, at), what('example')).toEqual([]);
      expect((await send(method, path, full)).status, what('every field')).toBe(REACHED_RPC);
      for (const name of fields) {
        const wrongType = { ...full, [name]: 42 };
        expect(validateAt(wrongType, at), what(`${name}: 42`)).not.toEqual([]);
        expect((await send(method, path, wrongType)).status, what(`${name}: 42`)).toBe(400);
        const { [name]: _, ...without } = full;
        const required = schema.required?.includes(name) ?? false;
        expect((await send(method, path, without)).status, what(`without ${name}`)).toBe(
          required ? 400 : REACHED_RPC,
        );
      }
      const unknown = { ...full, bogus: 'x' };
      expect((await send(method, path, unknown)).status, what('unknown field')).toBe(
        schema.additionalProperties === false ? 400 : REACHED_RPC,
      );
    }
    expect(checked).toBe(9);
  });

  it('should serve the document at /openapi.json', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('application/json');
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('should not reflect the Host header into the document', async () => {
    const res = await app.request('http://evil.example/openapi.json', {
      headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' },
    });
    const text = await res.text();
    expect(text).not.toContain('evil.example');
    expect((JSON.parse(text) as { servers: unknown }).servers).toEqual(openApiDocument.servers);
  });
});
