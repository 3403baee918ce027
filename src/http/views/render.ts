import type { Context } from 'hono';
import { html } from 'hono/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An HTML page: the doctype, then the rendered (escaped) JSX. */
export function renderPage(c: Context, page: unknown, status: ContentfulStatusCode = 200) {
  return c.html(html`<!doctype html>${page}`, status);
}

/** Messages from the TCP server start in lower case ("invalid username or password"). */
export function sentence(text: string): string {
  return text === '' ? text : text[0]?.toUpperCase() + text.slice(1);
}
