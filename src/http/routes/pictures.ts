/**
 * Pictures: served from the TCP server's store by name, and uploaded through
 * the API. A name is given to one upload's files only (random, never reused),
 * so a served picture never changes and browsers may keep it for a year.
 */
import type { Context } from 'hono';
import type { Logger } from '../../log.ts';
import { MESSAGES, pictureTooLarge } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { RpcRoute } from '../app-deps.ts';
import { factory } from '../env.ts';
import { closeConnection, formatFor, renderError } from '../errors.tsx';
import { formFile, readForm } from '../form.ts';
import {
  declaredSizeLimit,
  formatBytes,
  MULTIPART_OVERHEAD_BYTES,
  readCapped,
  readInSlot,
  type UploadSlots,
} from '../upload.ts';
import { userJson } from '../user-json.ts';

/** `<64 hex>.webp` or `<64 hex>-64.webp`; anything else is not a picture. */
const FILE = /^([0-9a-f]{64}(?:-64)?)\.webp$/;

export interface PictureRouteOptions extends RpcRoute {
  maxUploadBytes: number;
  /** Shared with the profile page's upload form. */
  slots: UploadSlots;
  log: Logger;
}

export function pictureRoutes({ rpc, maxUploadBytes: maxUpload, slots, log }: PictureRouteOptions) {
  const tooLarge = (c: Context) =>
    renderError(
      c,
      new RpcError(Status.PAYLOAD_TOO_LARGE, pictureTooLarge(formatBytes(maxUpload))),
      'json',
    );

  return factory
    .createApp()
    .get('/pictures/:file', async (c) => {
      const name = FILE.exec(c.req.param('file'))?.[1];
      // A browser opening the address of a picture replaced or removed gets a page, not JSON.
      if (name === undefined) {
        return renderError(
          c,
          new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_PICTURE),
          formatFor(c),
        );
      }
      const etag = `"${name}"`;
      const headers = {
        // Private: the browser keeps it a year (its name is never reused), but no shared
        // cache does, where it would outlive its deletion with the account.
        'cache-control': 'private, max-age=31536000, immutable',
        etag,
        'x-content-type-options': 'nosniff',
      };
      // Compared weakly (RFC 9110 13.1.2): W/"x" is "x". A name is given to
      // one content only, so a tag that names it is still current without asking the store.
      const tags = c.req
        .header('if-none-match')
        ?.split(/\s*,\s*/)
        .map((tag) => tag.replace(/^W\//, ''));
      if (tags?.includes(etag)) return c.body(null, 304, headers);
      const picture = await rpc
        .call('getPicture', { name }, c.get('client').callOptions())
        .catch((err: unknown) => {
          if (err instanceof RpcError && formatFor(c) === 'page') return err;
          throw err;
        });
      if (picture instanceof RpcError) return renderError(c, picture, 'page');
      // "*": any current picture of that name, which there is (else NOT_FOUND above).
      if (tags?.includes('*')) return c.body(null, 304, headers);
      return c.body(picture.data as Uint8Array<ArrayBuffer>, 200, {
        ...headers,
        'content-type': picture.contentType,
      });
    })
    .put(
      '/api/v1/me/picture',
      declaredSizeLimit(maxUpload + MULTIPART_OVERHEAD_BYTES, tooLarge),
      async (c) => {
        const client = c.get('client');
        const token = client.sessionToken;
        const options = client.callOptions();
        // The session first: a stranger's body is neither read nor forwarded.
        const { user } = await rpc.call('getProfile', { auth: { token } }, options).catch((err) => {
          closeConnection(c);
          throw err;
        });
        const held = slots.take({ address: client.ip, user: user?.id ?? '' });
        if (held instanceof RpcError) {
          closeConnection(c);
          throw held;
        }
        return readInSlot(
          c,
          slots,
          held,
          log,
          async (progress) =>
            (await readCapped(c, maxUpload + MULTIPART_OVERHEAD_BYTES, progress)) &&
            uploadedImage(c),
          async (image) => {
            if (image === false || image.length > maxUpload) return tooLarge(c);
            const { user } = await rpc.call('setPicture', { auth: { token }, image }, options);
            return c.json({ user: userJson(user) });
          },
        );
      },
    )
    .delete('/api/v1/me/picture', async (c) => {
      const client = c.get('client');
      const { user } = await rpc.call(
        'removePicture',
        { auth: { token: client.sessionToken } },
        client.callOptions(),
      );
      return c.json({ user: userJson(user) });
    });
}

/** The multipart field `picture`, or else the raw body. */
async function uploadedImage(c: Context): Promise<Uint8Array> {
  if (/^multipart\/form-data/i.test(c.req.header('content-type') ?? '')) {
    const file = formFile(await readForm(c), 'picture');
    if (file === null) {
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'send the picture as the multipart field "picture", or as the raw body',
        { field: 'picture' },
      );
    }
    return new Uint8Array(await file.arrayBuffer());
  }
  const image = new Uint8Array(await c.req.arrayBuffer());
  if (image.length === 0) {
    throw new RpcError(Status.INVALID_ARGUMENT, 'the body is empty: send the picture', {
      field: 'picture',
    });
  }
  return image;
}
