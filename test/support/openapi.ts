/**
 * Checks real HTTP answers against the OpenAPI document, so that the
 * document describes what the server does, not what it was meant to do.
 * A small JSON Schema validator for exactly the keywords the document uses;
 * a keyword it does not know is an error, so the two cannot drift apart.
 */
import { expect } from 'bun:test';
import { openApiDocument } from '../../src/http/openapi/document.ts';
import type { Method, Ref, Response, Schema } from '../../src/http/openapi/types.ts';

const KNOWN = new Set([
  '$ref',
  'type',
  'title',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'pattern',
  'format',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'default',
  'examples',
  'writeOnly',
]);

/** Resolves a local `#/components/...` reference. */
export function resolve<T>(ref: string): T {
  const found = ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>(
      (node, key) => (node as Record<string, unknown> | undefined)?.[key],
      openApiDocument,
    );
  if (found === undefined) throw new Error(`unresolved reference ${ref}`);
  return found as T;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** The problems of `value` against `schema`, each with its JSON path; empty when it conforms. */
export function validate(value: unknown, schema: Schema, at = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) return [`${at}: the validator does not know ${unknown.join(', ')}`];
  if (schema.$ref !== undefined) return validate(value, resolve<Schema>(schema.$ref), at);
  const problems: string[] = [];
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = allowed.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [`${at}: ${actual} is not ${allowed.join(' or ')}`];
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as string)) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  }
  if (schema.const !== undefined && value !== schema.const) {
    problems.push(`${at}: ${JSON.stringify(value)} is not ${schema.const}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength)
      problems.push(`${at}: too short`);
    if (schema.maxLength !== undefined && length > schema.maxLength)
      problems.push(`${at}: too long`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum)
      problems.push(`${at}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum)
      problems.push(`${at}: above maximum`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    value.forEach((item, i) => {
      problems.push(...validate(item, items, `${at}[${i}]`));
    });
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      if (!Object.hasOwn(object, name)) problems.push(`${at}.${name}: missing`);
    }
    for (const [name, inner] of Object.entries(object)) {
      const property = schema.properties?.[name];
      if (property !== undefined) problems.push(...validate(inner, property, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${name}: not described`);
    }
  }
  return problems;
}

/**
 * Expects `res` to be an answer the document describes for this operation:
 * its status is listed, and its JSON body (when the answer has one) fits the
 * schema. Returns the parsed body.
 */
export async function expectDescribed(
  method: Method,
  path: string,
  res: globalThis.Response,
): Promise<unknown> {
  const operation = openApiDocument.paths[path]?.[method];
  if (operation === undefined) throw new Error(`${method.toUpperCase()} ${path} is not described`);
  const described = operation.responses[String(res.status)] as Response | Ref | undefined;
  expect(described, `${method.toUpperCase()} ${path} answered ${res.status}`).toBeDefined();
  const response =
    '$ref' in (described as object)
      ? resolve<Response>((described as Ref).$ref)
      : (described as Response);
  const text = await res.text();
  if (response.content?.['text/plain'] !== undefined) {
    expect(res.headers.get('content-type') ?? '').toStartWith('text/plain');
    return text;
  }
  const schema = response.content?.['application/json']?.schema;
  if (schema === undefined) {
    expect(text).toBe('');
    return undefined;
  }
  expect(res.headers.get('content-type') ?? '').toStartWith('application/json');
  const body = JSON.parse(text) as unknown;
  expect(validate(body, schema)).toEqual([]);
  for (const header of Object.keys(response.headers ?? {})) {
    if (header !== 'Retry-After') expect(res.headers.get(header), header).not.toBeNull();
  }
  return body;
}
