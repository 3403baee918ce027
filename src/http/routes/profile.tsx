/**
 * The profile page and its forms. Every post sends the session cookie and
 * the form's anti-CSRF token (`csrf`, from GetProfile), which the TCP server
 * checks; the same-origin middleware has already refused cross-site posts.
 */
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { CallResult } from '../../rpc/client.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { AppDeps } from '../app.ts';
import { closeConnection } from '../errors.ts';
import { type Flash, setFlash, takeFlash } from '../flash.ts';
import { type FormBody, formFile, formText, readForm } from '../form.ts';
import { createPageErrorHandler, formFlash } from '../page-errors.tsx';
import { callOptions } from '../request-info.ts';
import { clearSessionCookie, isHttps, sessionToken } from '../session-cookie.ts';
import { formatBytes, MULTIPART_OVERHEAD_BYTES } from '../upload.ts';
import { ProfilePage } from '../views/profile.tsx';
import { renderPage } from '../views/render.ts';
import { MAX_NICKNAME_CHARS } from './open-api.ts';

const LOGGED_OUT: Flash = { notice: 'your session has ended: please log in again' };

export function profileRoutes({ rpc, config, log }: AppDeps) {
  const https = (c: Context) => isHttps(c, config.trustProxy);
  const options = (c: Context) => callOptions(c, config.trustProxy);
  const maxUpload = config.http.maxUploadBytes;
  const back = (c: Context, to: string, flash: Flash) => {
    setFlash(c, flash, https(c));
    return c.redirect(to, 303);
  };
  /** The session of a form post: the cookie, and the form's anti-CSRF token ('' when missing: refused). */
  const auth = (c: Context, form: FormBody) => ({
    token: sessionToken(c, https(c)).token,
    csrfToken: formText(form, 'csrf', 200),
  });
  /** Where a form post goes after an error; rethrows what needs an error page. */
  const afterError = (
    c: Context,
    err: unknown,
    field: string,
    values: Record<string, string> = {},
  ) => {
    if (err instanceof RpcError && err.code === Status.UNAUTHENTICATED) {
      clearSessionCookie(c, https(c));
      return back(c, '/login', LOGGED_OUT);
    }
    const flash = formFlash(err, values, field);
    if (flash === null) throw err;
    return back(c, '/profile', flash);
  };

  const app = new Hono();
  app.onError(createPageErrorHandler(log));
  return app
    .get('/profile', async (c) => {
      const token = sessionToken(c, https(c)).token;
      if (token === '') return c.redirect('/login', 303);
      let profile: CallResult<'getProfile'>;
      let rules: CallResult<'getAccountRules'>;
      try {
        [profile, rules] = await Promise.all([
          rpc.call('getProfile', { auth: { token } }, options(c)),
          rpc.call('getAccountRules', {}, options(c)),
        ]);
      } catch (err) {
        if (!(err instanceof RpcError && err.code === Status.UNAUTHENTICATED)) throw err;
        clearSessionCookie(c, https(c));
        return back(c, '/login', LOGGED_OUT);
      }
      const { user, csrfToken } = profile;
      if (user === undefined) throw new Error('the TCP server answered without a user');
      return renderPage(
        c,
        <ProfilePage
          user={user}
          csrfToken={csrfToken}
          rules={rules}
          flash={takeFlash(c, https(c))}
          maxUpload={formatBytes(maxUpload)}
        />,
      );
    })
    .post(
      '/profile/nickname',
      bodyLimit({
        maxSize: config.http.maxJsonBytes,
        onError: (c) => {
          closeConnection(c);
          return back(c, '/profile', { fields: { nickname: 'the nickname is too long' } });
        },
      }),
      async (c) => {
        const form = await readForm(c);
        const nickname = formText(form, 'nickname', MAX_NICKNAME_CHARS);
        try {
          await rpc.call('updateNickname', { auth: auth(c, form), nickname }, options(c));
        } catch (err) {
          return afterError(c, err, 'nickname', { nickname });
        }
        return back(c, '/profile', { notice: 'your nickname is saved' });
      },
    )
    .post(
      '/profile/picture',
      bodyLimit({
        maxSize: maxUpload + MULTIPART_OVERHEAD_BYTES,
        onError: (c) => {
          closeConnection(c);
          return back(c, '/profile', tooLarge(maxUpload));
        },
      }),
      async (c) => {
        const form = await readForm(c);
        const picture = formFile(form, 'picture');
        if (picture === null) {
          return back(c, '/profile', { fields: { picture: 'choose a picture to upload' } });
        }
        if (picture.size > maxUpload) return back(c, '/profile', tooLarge(maxUpload));
        const image = new Uint8Array(await picture.arrayBuffer());
        try {
          await rpc.call('setPicture', { auth: auth(c, form), image }, options(c));
        } catch (err) {
          return afterError(c, err, 'picture');
        }
        return back(c, '/profile', { notice: 'your new picture is saved' });
      },
    );
}

function tooLarge(maxUpload: number): Flash {
  return { fields: { picture: `the picture is larger than ${formatBytes(maxUpload)}` } };
}
