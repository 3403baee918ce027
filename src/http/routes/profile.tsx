/**
 * The profile page and its forms. Every post sends the session cookie and
 * the form's anti-CSRF token (`csrf`, from GetProfile), which the TCP server
 * checks; the same-origin middleware has already refused cross-site posts.
 */
import type { Context } from 'hono';
import type { Logger } from '../../log.ts';
import type { CallResult } from '../../wire/calls.ts';
import { MESSAGES, pictureTooLarge } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { BodyRoute } from '../app-deps.ts';
import { type AppEnv, factory } from '../env.ts';
import { closeConnection, errorHandler } from '../errors.tsx';
import {
  redirectWithFlash as back,
  type Flash,
  formBodyLimit,
  formFlash,
  keepForLater,
  takeFlash,
  takeKept,
} from '../flash.ts';
import { type FormBody, formFile, formText, readForm } from '../form.ts';
import {
  MAX_CSRF_CHARS,
  MAX_NICKNAME_CHARS,
  MAX_OTP_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_SESSION_ID_CHARS,
} from '../limits.ts';
import { clearSessionCookie, setLoginCookies, setSessionCookie } from '../session-cookie.ts';
import {
  declaredSizeLimit,
  formatBytes,
  type HeldSlot,
  MULTIPART_OVERHEAD_BYTES,
  readCapped,
  readInSlot,
  type UploadSlots,
} from '../upload.ts';
import { ProfilePage } from '../views/profile.tsx';
import { renderPage } from '../views/render.ts';

const LOGGED_OUT: Flash = { notice: 'your session has ended: please log in again' };

export interface ProfileRouteOptions extends BodyRoute {
  maxUploadBytes: number;
  /** Shared with the API's upload route. */
  slots: UploadSlots;
  log: Logger;
}

/** The session of a form post: the cookie, and the form's anti-CSRF token ('' when missing: refused). */
export function auth(c: Context<AppEnv>, form: FormBody) {
  return {
    token: c.get('client').sessionToken,
    csrfToken: formText(form, 'csrf', MAX_CSRF_CHARS),
  };
}

/** The session ended: the cookie goes, and the login page says why. */
/**
 * The session has ended: to the login page, its username filled in (read from the
 * ended token, as the pool's routing does), and what was typed into the form kept
 * for the profile after that login (`typed`, never a password).
 */
export function loggedOut(c: Context<AppEnv>, typed: Record<string, string> = {}) {
  const client = c.get('client');
  const owner = client.sessionKey;
  clearSessionCookie(c, client.https);
  if (owner === undefined) return back(c, '/login', LOGGED_OUT);
  if (Object.values(typed).some((v) => v !== '')) keepForLater(c, owner, typed);
  return back(c, '/login', { ...LOGGED_OUT, values: { username: owner } });
}

/** The page's flash, with a nickname typed before the session had ended put back (loggedOut). */
function withKept(flash: Flash, kept: Record<string, string>): Flash {
  if (!kept.nickname || flash.values?.nickname !== undefined) return flash;
  return {
    ...flash,
    values: { ...flash.values, nickname: kept.nickname },
    notice: flash.notice ?? MESSAGES.NICKNAME_NOT_SAVED,
  };
}

/** Where a form post goes after an error; rethrows what needs an error page. */
function afterError(
  c: Context<AppEnv>,
  err: unknown,
  field: string,
  values: Record<string, string> = {},
  codeField = 'code',
) {
  // A code missing or wrong (two-step login on) is shown at this form's own code field.
  if (err instanceof RpcError && err.code === Status.OTP_REQUIRED)
    return back(c, '/profile', { fields: { [codeField]: err.message }, values });
  if (err instanceof RpcError && err.code === Status.UNAUTHENTICATED) {
    // A wrong confirming password names its field; an ended session names none.
    if (err.field === '') return loggedOut(c, values);
    const name = err.field === 'code' ? codeField : err.field;
    return back(c, '/profile', { fields: { [name]: err.message }, values });
  }
  const flash = formFlash(err, values, field);
  if (flash === null) throw err;
  return back(c, '/profile', flash);
}

export function profileRoutes({
  rpc,
  maxJsonBytes,
  maxUploadBytes,
  slots,
  log,
}: ProfileRouteOptions) {
  const tooLarge: Flash = { fields: { picture: pictureTooLarge(formatBytes(maxUploadBytes)) } };
  /** The rest of the body is not read: the connection goes with the answer. */
  const tooLargeForm = (c: Context<AppEnv>) => {
    closeConnection(c);
    return back(c, '/profile', tooLarge);
  };
  const limit = formBodyLimit(maxJsonBytes, { error: MESSAGES.FORM_TOO_LARGE }, '/profile');
  const app = factory.createApp();
  app.onError(errorHandler(log, 'page'));
  return app
    .get('/profile', async (c) => {
      const client = c.get('client');
      const token = client.sessionToken;
      if (token === '') return c.redirect('/login', 303);
      let profile: CallResult<'getProfile'>;
      let rules: CallResult<'getAccountRules'>;
      let sessions: CallResult<'listSessions'> | null;
      let twoStep: CallResult<'getTotp'> | null;
      try {
        [profile, rules, sessions, twoStep] = await Promise.all([
          // The cookie is renewed as it is used (sliding expiry).
          rpc.call(
            'getProfile',
            { auth: { token }, renew: client.sessionByCookie },
            client.callOptions(),
          ),
          rpc.call('getAccountRules', {}, client.callOptions()),
          // The rest of the page works without the list (throttled, store down); an
          // ended session is told by getProfile.
          rpc
            .call('listSessions', { auth: { token } }, client.callOptions(false))
            .catch(() => null),
          // A TCP server older than two-step login: the page goes without its section.
          rpc.call('getTotp', { auth: { token } }, client.callOptions()).catch((err: unknown) => {
            if (err instanceof RpcError && err.code === Status.UNIMPLEMENTED) return null;
            throw err;
          }),
        ]);
      } catch (err) {
        if (!(err instanceof RpcError && err.code === Status.UNAUTHENTICATED)) throw err;
        return loggedOut(c);
      }
      const { user, csrfToken, renewed } = profile;
      if (user === undefined) throw new Error('the TCP server answered without a user');
      if (renewed !== undefined) setSessionCookie(c, renewed, client.https);
      return renderPage(
        c,
        <ProfilePage
          user={user}
          csrfToken={csrfToken}
          rules={rules}
          flash={withKept(takeFlash(c), takeKept(c, client.sessionKey))}
          maxUpload={formatBytes(maxUploadBytes)}
          maxUploadBytes={maxUploadBytes}
          sessions={sessions?.sessions ?? null}
          twoStep={twoStep}
        />,
      );
    })
    .post(
      '/profile/nickname',
      formBodyLimit(maxJsonBytes, { fields: { nickname: 'the nickname is too long' } }, '/profile'),
      async (c) => {
        const form = await readForm(c);
        const nickname = formText(form, 'nickname', MAX_NICKNAME_CHARS);
        try {
          await rpc.call(
            'updateNickname',
            { auth: auth(c, form), nickname },
            c.get('client').callOptions(),
          );
        } catch (err) {
          return afterError(c, err, 'nickname', { nickname });
        }
        return back(c, '/profile', { notice: 'your nickname is saved' });
      },
    )
    .post(
      '/profile/picture',
      declaredSizeLimit(maxUploadBytes + MULTIPART_OVERHEAD_BYTES, tooLargeForm),
      async (c) => {
        // The session first, as the API's upload does: a stranger's body is
        // neither read nor forwarded (the form's anti-CSRF token, inside the
        // body, is checked with the upload).
        const client = c.get('client');
        const token = client.sessionToken;
        let held: HeldSlot;
        try {
          if (token === '') throw new RpcError(Status.UNAUTHENTICATED, MESSAGES.NOT_LOGGED_IN);
          const { user } = await rpc.call('getProfile', { auth: { token } }, client.callOptions());
          const taken = slots.take({ address: client.ip, user: user?.id ?? '' });
          if (taken instanceof RpcError) throw taken;
          held = taken;
        } catch (err) {
          closeConnection(c); // the body is left unread
          return afterError(c, err, 'picture');
        }
        return readInSlot(
          c,
          slots,
          held,
          log,
          async (progress) =>
            (await readCapped(c, maxUploadBytes + MULTIPART_OVERHEAD_BYTES, progress)) &&
            readForm(c),
          async (form) => {
            if (form === false) return tooLargeForm(c);
            const picture = formFile(form, 'picture');
            if (picture === null) {
              return back(c, '/profile', { fields: { picture: 'choose a picture to upload' } });
            }
            if (picture.size > maxUploadBytes) return back(c, '/profile', tooLarge);
            const image = new Uint8Array(await picture.arrayBuffer());
            try {
              await rpc.call('setPicture', { auth: auth(c, form), image }, client.callOptions());
            } catch (err) {
              return afterError(c, err, 'picture');
            }
            return back(c, '/profile', { notice: 'your new picture is saved' });
          },
        );
      },
    )
    .post('/profile/picture/remove', limit, async (c) => {
      const form = await readForm(c);
      try {
        await rpc.call('removePicture', { auth: auth(c, form) }, c.get('client').callOptions());
      } catch (err) {
        return afterError(c, err, 'picture');
      }
      return back(c, '/profile', { notice: 'your picture is removed' });
    })
    .post('/profile/password', limit, async (c) => {
      const form = await readForm(c);
      const currentPassword = formText(form, 'current_password', MAX_PASSWORD_CHARS);
      const newPassword = formText(form, 'new_password', MAX_PASSWORD_CHARS);
      const code = formText(form, 'password_code', MAX_OTP_CHARS);
      if (newPassword !== formText(form, 'new_password2', MAX_PASSWORD_CHARS)) {
        return back(c, '/profile', {
          fields: { new_password2: MESSAGES.NEW_PASSWORDS_DIFFER },
        });
      }
      const client = c.get('client');
      try {
        const session = await rpc.call(
          'changePassword',
          { auth: auth(c, form), currentPassword, newPassword, code, userAgent: client.userAgent },
          client.callOptions(),
        );
        // Every session ended with the change, this one too: the cookie gets the new one,
        // and the device cookie too (the ones from before the change exempt nothing).
        setLoginCookies(c, session, client.https);
      } catch (err) {
        return afterError(c, err, 'new_password', {}, 'password_code');
      }
      return back(c, '/profile', {
        notice: 'your password has been changed, and every other session is logged out',
      });
    })
    .post('/profile/sessions/end', limit, async (c) => {
      const form = await readForm(c);
      const id = formText(form, 'session', MAX_SESSION_ID_CHARS);
      let current: boolean;
      try {
        ({ current } = await rpc.call(
          'endSession',
          { auth: auth(c, form), id },
          c.get('client').callOptions(),
        ));
      } catch (err) {
        // Ended meanwhile (another tab, another device): the list shows what is left.
        if (err instanceof RpcError && err.code === Status.NOT_FOUND)
          return back(c, '/profile', { notice: 'that session had already ended' });
        return afterError(c, err, '');
      }
      if (current) {
        clearSessionCookie(c, c.get('client').https);
        return back(c, '/login', { notice: 'you are logged out' });
      }
      return back(c, '/profile', { notice: 'that session is logged out' });
    })
    .post('/profile/logout-all', limit, async (c) => {
      const form = await readForm(c);
      try {
        await rpc.call('logoutAll', { auth: auth(c, form) }, c.get('client').callOptions());
      } catch (err) {
        return afterError(c, err, '');
      }
      clearSessionCookie(c, c.get('client').https);
      return back(c, '/login', { notice: 'you are logged out everywhere' });
    })
    .post('/profile/delete', limit, async (c) => {
      const form = await readForm(c);
      const password = formText(form, 'password', MAX_PASSWORD_CHARS);
      const code = formText(form, 'delete_code', MAX_OTP_CHARS);
      try {
        await rpc.call(
          'deleteAccount',
          { auth: auth(c, form), password, code },
          c.get('client').callOptions(),
        );
      } catch (err) {
        return afterError(c, err, 'password', {}, 'delete_code');
      }
      clearSessionCookie(c, c.get('client').https);
      return back(c, '/login', { notice: 'your account is deleted' });
    });
}
