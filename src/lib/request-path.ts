/**
 * The path and the query of a request's URL as Bun gives it, read from the
 * text: Bun builds the URL from the Host header, which need not make a URL
 * that new URL() takes (`Host: x:99999`), and without a Host (HTTP/1.0) the
 * URL is the bare path.
 */

/** The path, without the query. */
export function requestPath(url: string): string {
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2);
  if (start < 0) return '/';
  const query = url.indexOf('?', start);
  return url.slice(start, query < 0 ? url.length : query);
}

/** The query's parameters. */
export function requestQuery(url: string): URLSearchParams {
  const query = url.indexOf('?');
  return new URLSearchParams(query < 0 ? '' : url.slice(query + 1));
}
