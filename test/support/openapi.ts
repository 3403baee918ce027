/**
 * Checks real HTTP answers against the OpenAPI document, so that the
 * document describes what the server does, not what it was meant to do.
 * Bodies are validated by Ajv (JSON Schema 2020-12, the dialect of OpenAPI
 * 3.1) in strict mode: a keyword Ajv does not know is an error, so a
 * misspelt one cannot pass unnoticed. The document itself is checked
 * against the official OpenAPI 3.1 schema by `validateOpenApi`.
 */
import { expect } from 'bun:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type {
  OperationObject,
  PathItemObject,
  ReferenceObject,
  ResponseObject,
} from 'openapi3-ts/oas31';
import { openApiDocument } from '../../src/http/openapi/document.ts';

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

/** The errors of `document` against the official OpenAPI 3.1 schema; empty when it conforms. */
export async function validateOpenApi(document: unknown): Promise<unknown[]> {
  const validator = new Validator();
  // The validator keeps what it is given; a copy leaves the caller's object alone.
  const result = await validator.validate(structuredClone(document) as Record<string, unknown>);
  expect(validator.version).toBe('3.1');
  return result.valid ? [] : ((result.errors as unknown[] | undefined) ?? ['invalid']);
}

/** Where Ajv finds the document: schemas are compiled by JSON pointer into it. */
const DOCUMENT_ID = 'urn:usermgr:openapi';

/** An Ajv that knows `document`; `schemaAt` compiles the schema at a JSON pointer into it. */
export function schemaCompiler(document: object) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  // The document is not a schema: its top-level fields are declared as
  // keywords that check nothing, so that schemas inside it can be reached.
  ajv.addVocabulary(Object.keys(document));
  ajv.addSchema(document, DOCUMENT_ID);
  const compiled = new Map<string, ValidateFunction>();
  return {
    schemaAt(pointer: string): ValidateFunction {
      let validate = compiled.get(pointer);
      if (validate === undefined) {
        validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` });
        compiled.set(pointer, validate);
      }
      return validate;
    },
  };
}

const compiler = schemaCompiler(openApiDocument);

/** A JSON pointer from its parts (RFC 6901 escapes). */
export function pointer(...parts: string[]): string {
  return parts.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** The problems of `value` against the schema at `at` in the document; empty when it conforms. */
export function validateAt(value: unknown, at: string): string[] {
  const validate = compiler.schemaAt(at);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '$'}: ${e.message}`);
}

function operationOf(method: Method, path: string): OperationObject {
  const item = openApiDocument.paths?.[path] as PathItemObject | undefined;
  const operation = item?.[method];
  if (operation === undefined) throw new Error(`${method.toUpperCase()} ${path} is not described`);
  return operation;
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
  const status = String(res.status);
  const described = operationOf(method, path).responses?.[status] as
    | ResponseObject
    | ReferenceObject
    | undefined;
  expect(described, `${method.toUpperCase()} ${path} answered ${status}`).toBeDefined();
  // Where the answer is described: in place, or a shared one under components/responses.
  const [at, response] =
    described !== undefined && '$ref' in described
      ? [
          described.$ref.slice(1),
          openApiDocument.components?.responses?.[described.$ref.split('/').pop() ?? ''] as
            | ResponseObject
            | undefined,
        ]
      : [pointer('paths', path, method, 'responses', status), described];
  expect(response, `${at} resolves`).toBeDefined();
  const text = await res.text();
  if (response?.content?.['text/plain'] !== undefined) {
    expect(res.headers.get('content-type') ?? '').toStartWith('text/plain');
    return text;
  }
  if (response?.content?.['application/json'] === undefined) {
    expect(text).toBe('');
    return undefined;
  }
  expect(res.headers.get('content-type') ?? '').toStartWith('application/json');
  const body = JSON.parse(text) as unknown;
  expect(validateAt(body, `${at}${pointer('content', 'application/json', 'schema')}`)).toEqual([]);
  for (const header of Object.keys(response.headers ?? {})) {
    if (header !== 'Retry-After') expect(res.headers.get(header), header).not.toBeNull();
  }
  return body;
}
