import { Hono } from 'hono';
import { openApiDocument } from '../openapi/document.ts';

/** `/openapi.json`: the OpenAPI 3.1 description of this server's whole API. */
export function openApiJsonRoutes() {
  // Serialised once: the document never changes while the process runs.
  const text = JSON.stringify(openApiDocument);
  return new Hono().get('/openapi.json', (c) =>
    c.body(text, 200, { 'content-type': 'application/json; charset=UTF-8' }),
  );
}
