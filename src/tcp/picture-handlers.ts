/** The picture calls of the contract, served by the Pictures service. */
import type { Pictures } from '../core/pictures.ts';
import { accountCaller, sessionAuth, toUser } from './convert.ts';
import type { Handlers } from './dispatch.ts';

export function pictureHandlers(pictures: Pictures): Handlers {
  return {
    setPicture: async (req, ctx) => ({
      user: toUser(await pictures.set(sessionAuth(req), req.image, ctx.deadline)),
    }),
    removePicture: async (req, ctx) => ({
      user: toUser(await pictures.remove(sessionAuth(req), ctx.deadline, accountCaller(ctx))),
    }),
    getPicture: async (req) => {
      const picture = await pictures.get(req.name);
      return { data: picture.bytes, contentType: picture.contentType };
    },
  };
}
