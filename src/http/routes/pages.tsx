/**
 * The pages that need no session: the start page, log in, sign up, log out.
 * Plain HTML forms; every post answers 303 (POST-redirect-GET), carrying
 * errors, notices and the values to keep in a flash cookie.
 */
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { AppDeps } from '../app.ts';
import { closeConnection } from '../errors.ts';
import { type Flash, setFlash, takeFlash } from '../flash.ts';
import { formText, readForm } from '../form.ts';
import { createPageErrorHandler, formFlash } from '../page-errors.tsx';
import { callOptions } from '../request-info.ts';
import { clearSessionCookie, isHttps, sessionToken, setSessionCookie } from '../session-cookie.ts';
import { LoginPage } from '../views/login.tsx';
import { RegisterPage } from '../views/register.tsx';
import { renderPage } from '../views/render.ts';
import { MAX_NICKNAME_CHARS, MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS } from './open-api.ts';

export function pageRoutes({ rpc, config, log }: AppDeps) {
  const https = (c: Context) => isHttps(c, config.trustProxy);
  const options = (c: Context) => callOptions(c, config.trustProxy);
  const back = (c: Context, to: string, flash: Flash) => {
    setFlash(c, flash, https(c));
    return c.redirect(to, 303);
  };
  const limit = bodyLimit({
    maxSize: config.http.maxJsonBytes,
    onError: (c) => {
      closeConnection(c);
      return back(c, c.req.path, { error: 'the form is too large' });
    },
  });

  const app = new Hono();
  app.onError(createPageErrorHandler(log));
  return app
    .get('/', (c) =>
      c.redirect(sessionToken(c, https(c)).token === '' ? '/login' : '/profile', 303),
    )
    .get('/login', (c) => renderPage(c, <LoginPage flash={takeFlash(c, https(c))} />))
    .post('/login', limit, async (c) => {
      const form = await readForm(c);
      const username = formText(form, 'username', MAX_USERNAME_CHARS);
      const password = formText(form, 'password', MAX_PASSWORD_CHARS);
      try {
        const session = await rpc.call(
          'login',
          { username, password, currentToken: sessionToken(c, https(c)).token },
          options(c),
        );
        setSessionCookie(c, session.token, Number(session.expiresAtMs), https(c));
        return c.redirect('/profile', 303);
      } catch (err) {
        const flash =
          err instanceof RpcError && err.code === Status.UNAUTHENTICATED
            ? { error: err.message, values: { username } }
            : formFlash(err, { username });
        if (flash === null) throw err;
        return back(c, '/login', flash);
      }
    })
    .get('/register', async (c) => {
      const rules = await rpc.call('getAccountRules', {}, options(c));
      return renderPage(c, <RegisterPage flash={takeFlash(c, https(c))} rules={rules} />);
    })
    .post('/register', limit, async (c) => {
      const form = await readForm(c);
      const username = formText(form, 'username', MAX_USERNAME_CHARS);
      const password = formText(form, 'password', MAX_PASSWORD_CHARS);
      const nickname = formText(form, 'nickname', MAX_NICKNAME_CHARS);
      const values = { username, nickname };
      if (password !== formText(form, 'password2', MAX_PASSWORD_CHARS)) {
        return back(c, '/register', {
          fields: { password2: 'the two passwords are not the same' },
          values,
        });
      }
      try {
        await rpc.call('register', { username, password, nickname }, options(c));
      } catch (err) {
        const flash = formFlash(err, values);
        if (flash === null) throw err;
        return back(c, '/register', flash);
      }
      try {
        const session = await rpc.call('login', { username, password }, options(c));
        setSessionCookie(c, session.token, Number(session.expiresAtMs), https(c));
        return back(c, '/profile', { notice: 'welcome! Your account is ready.' });
      } catch {
        // The account exists; only the automatic login failed (e.g. too busy).
        return back(c, '/login', {
          notice: 'your account is ready: log in with it',
          values: { username },
        });
      }
    })
    .post('/logout', limit, async (c) => {
      const form = await readForm(c);
      const token = sessionToken(c, https(c)).token;
      try {
        await rpc.call(
          'logout',
          { auth: { token, csrfToken: formText(form, 'csrf', 200) } },
          options(c),
        );
      } catch (err) {
        // Already logged out is fine; a bad anti-CSRF token is not (403 page).
        if (!(err instanceof RpcError && err.code === Status.UNAUTHENTICATED)) throw err;
      }
      clearSessionCookie(c, https(c));
      return back(c, '/login', { notice: 'you are logged out' });
    });
}
