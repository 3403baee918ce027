import { describe, expect, it } from 'bun:test';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { silentLogger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type ErrorFormat, errorHandler } from './errors.tsx';

/** An app whose one route throws `err`, answered by the one error handler in `format`. */
function failing(err: Error, format: ErrorFormat) {
  return new Hono()
    .post('/x', () => {
      throw err;
    })
    .onError(errorHandler(silentLogger, format));
}

const post = (headers: Record<string, string> = {}) => ({ method: 'POST', headers });

describe('unit: errorHandler and renderError', () => {
  it('should answer the same error as JSON and as a page, with its status and Retry-After', async () => {
    const err = new RpcError(Status.RESOURCE_EXHAUSTED, 'too many attempts', { retryAfterS: 7 });
    const json = await failing(err, 'json').request('/x', post());
    expect(json.status).toBe(429);
    expect(json.headers.get('retry-after')).toBe('7');
    expect(await json.json()).toEqual({
      error: { code: 'RESOURCE_EXHAUSTED', message: 'too many attempts' },
    });
    const page = await failing(err, 'page').request('/x', post());
    expect(page.status).toBe(429);
    expect(page.headers.get('retry-after')).toBe('7');
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('Too busy');
    expect(html).toContain('Too many attempts');
  });

  // Regression (a browser audit): with the TCP server down a page said "No TCP server is
  // reachable", words for an operator, and nothing about trying again.
  it('should tell a person in plain words that the service is not answering, without a wait it cannot know, the API what failed', async () => {
    for (const [err, status] of [
      [new RpcError(Status.UNAVAILABLE, 'no TCP server is reachable', { retryAfterS: 1 }), 503],
      [new RpcError(Status.DEADLINE_EXCEEDED, 'deadline exceeded'), 504],
    ] as const) {
      const page = await failing(err, 'page').request('/x', post());
      expect(page.status).toBe(status);
      const html = await page.text();
      expect(html).toContain(
        'The service is not answering on our side at the moment: please try again in a little while',
      );
      expect(html).not.toContain('1 second');
      expect(html).not.toContain(err.message);
      const json = await failing(err, 'json').request('/x', post());
      expect(((await json.json()) as { error: { message: string } }).error.message).toBe(
        err.message,
      );
    }
  });

  // Regression (a browser audit): a form out of date (a password changed in another tab)
  // said "reload the page", which posts it again, and linked only to the start page.
  it('should link an error page back to the page of this site the form was sent from', async () => {
    const err = new RpcError(Status.PERMISSION_DENIED, 'the form is out of date');
    const app = failing(err, 'page');
    const from = async (referer: string) =>
      (await app.request('http://localhost/x', post({ referer }))).text();
    expect(await from('http://localhost/profile?tab=1')).toContain(
      '<a href="/profile">Open the page again</a>',
    );
    // Behind a TLS proxy the page is https:// and the request http://: the same host.
    expect(await from('https://localhost/profile')).toContain('<a href="/profile">');
    for (const referer of [
      'https://evil.example/profile',
      'not a url',
      'http://localhost//evil.example/x',
      'http://localhost/\\evil.example/x',
    ])
      expect([referer, await from(referer)]).toEqual([
        referer,
        expect.stringContaining('<a href="/">Go to the start page</a>'),
      ]);
  });

  it('should map a Hono HTTPException back to the enum, 413 to PAYLOAD_TOO_LARGE', async () => {
    const res = await failing(new HTTPException(413, { message: 'too big' }), 'json').request(
      '/x',
      post(),
    );
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'too big' } });
    // A body without a length may never end: the connection is closed after the answer.
    expect(res.headers.get('connection')).toBe('close');
  });

  it('should close the connection after a refused chunked body on a page too', async () => {
    const err = new RpcError(Status.PAYLOAD_TOO_LARGE, 'the form is too large');
    const res = await failing(err, 'page').request('/x', post());
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    const sized = await failing(err, 'page').request('/x', post({ 'content-length': '10' }));
    expect(sized.headers.get('connection')).toBeNull();
  });

  it('should hide an unexpected error behind a generic message', async () => {
    const err = new Error('ECONNREFUSED 10.0.0.3:3306');
    const json = await failing(err, 'json').request('/x', post());
    expect(json.status).toBe(500);
    expect(await json.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    const page = await failing(err, 'page').request('/x', post());
    expect(page.status).toBe(500);
    expect(await page.text()).not.toContain('ECONNREFUSED');
  });
});
