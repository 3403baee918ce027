import { describe, expect, it } from 'bun:test';
import { loadHttpConfig } from '../../config/http-config.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { silentLogger } from '../../log.ts';
import { createApp } from '../app.ts';
import { openApiDocument } from './document.ts';
import type { Method, Operation, Parameter, Ref } from './types.ts';

const app = createApp({
  rpc: {
    call: () => {
      throw new Error('not called');
    },
  },
  http: loadHttpConfig({}).http,
  log: silentLogger,
  // As the server runs it: /metrics exists only with a registry.
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
  return Object.entries(openApiDocument.paths)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

function operations(): [string, Method, Operation][] {
  return Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
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
        Object.keys(op.responses).some((s) => s.startsWith('2')),
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
      expect(Object.keys(op.responses)).toContain('401');
      expect(Object.keys(op.responses)).toContain('404');
    }
  });

  it('should serve the document at /openapi.json', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('application/json');
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });
});
