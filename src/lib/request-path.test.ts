import { describe, expect, it } from 'bun:test';
import { requestPath, requestQuery } from './request-path.ts';

describe('unit: requestPath', () => {
  it('should read the path of any URL Bun makes, whatever the Host made of it', () => {
    for (const [url, path] of [
      ['http://127.0.0.1:9464/metrics', '/metrics'],
      ['http://x:99999/metrics?x=1', '/metrics'],
      ['http://[/healthz', '/healthz'],
      ['/readyz', '/readyz'],
      ['/metrics?a=/b', '/metrics'],
      ['http://host', '/'],
    ] as const)
      expect([url, requestPath(url)]).toEqual([url, path]);
  });

  it('should read the query of any URL Bun makes', () => {
    expect([...requestQuery('http://x:99999/users?limit=1&cursor=a%2Fb')]).toEqual([
      ['limit', '1'],
      ['cursor', 'a/b'],
    ]);
    expect([...requestQuery('/users')]).toEqual([]);
  });
});
