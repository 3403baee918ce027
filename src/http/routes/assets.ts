import { Hono } from 'hono';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { assetsByPath } from '../assets.ts';
import { renderError } from '../errors.tsx';

/** The stylesheet and script, by their content-hashed names: cacheable for a year. */
export function assetRoutes() {
  return new Hono().get('/assets/:file', (c) => {
    const asset = assetsByPath.get(c.req.path);
    if (asset === undefined) {
      return renderError(c, new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_FILE), 'json');
    }
    return c.body(asset.body, 200, {
      'content-type': asset.contentType,
      'cache-control': 'public, max-age=31536000, immutable',
    });
  });
}
