import type { Context } from 'hono';
import { html } from 'hono/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An HTML page: the doctype, then the rendered (escaped) JSX. */
export function renderPage(c: Context, page: unknown, status: ContentfulStatusCode = 200) {
  return c.html(html`<!doctype html>${page}`, status);
}

/**
 * A message as a page shows it: a sentence, capitalised and ending in a full
 * stop. Messages from the TCP server, which the JSON API answers as they are,
 * start in lower case and end without one ("invalid username or password");
 * a page's own notices may already end in one.
 */
export function sentence(text: string): string {
  if (text === '') return text;
  const capitalised = text[0]?.toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}
