import { Hono } from 'hono';
import { assetsByPath } from '../assets.ts';
import { errorJson } from '../errors.ts';

/** The stylesheet and script, by their content-hashed names: cacheable for a year. */
export function assetRoutes() {
  return new Hono().get('/assets/:file', (c) => {
    const asset = assetsByPath.get(c.req.path);
    if (asset === undefined) return errorJson(c, 404, 'NOT_FOUND', 'no such file');
    return c.body(asset.body, 200, {
      'content-type': asset.contentType,
      'cache-control': 'public, max-age=31536000, immutable',
    });
  });
}
