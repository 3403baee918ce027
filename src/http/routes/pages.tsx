/**
 * The pages that need no session: the start page, log in, sign up, log out.
 * Plain HTML forms; every post answers 303 (POST-redirect-GET), carrying
 * errors, notices and the values to keep in a flash cookie.
 */
import type { Context } from 'hono';
import type { Logger } from '../../log.ts';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { usernameKey } from '../affinity-key.ts';
import type { BodyRoute } from '../app-deps.ts';
import { type AppEnv, factory } from '../env.ts';
import { errorHandler } from '../errors.tsx';
import {
  redirectWithFlash as back,
  type Flash,
  formBodyLimit,
  formFlash,
  takeFlash,
} from '../flash.ts';
import { formText, readForm } from '../form.ts';
import {
  MAX_CSRF_CHARS,
  MAX_NICKNAME_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_USERNAME_CHARS,
} from '../limits.ts';
import { setLoginStep } from '../login-ticket-cookie.ts';
import { clearSessionCookie, setLoginCookies } from '../session-cookie.ts';
import { LoginPage } from '../views/login.tsx';
import { RegisterPage } from '../views/register.tsx';
import { renderPage } from '../views/render.ts';

export interface PageRouteOptions extends BodyRoute {
  log: Logger;
}

/**
 * A browser with a session cookie and no message to show goes to its profile
 * instead of a login or sign-up form; the profile sends a session that has
 * ended back here without the cookie, so there is no loop. A message (a
 * failed login of another account, say) is shown on the form it is for.
 */
function signedIn(c: Context<AppEnv>, flash: Flash): boolean {
  return c.get('client').sessionToken !== '' && Object.keys(flash).length === 0;
}

export function pageRoutes({ rpc, maxJsonBytes, log }: PageRouteOptions) {
  const limit = formBodyLimit(maxJsonBytes, { error: MESSAGES.FORM_TOO_LARGE });
  const app = factory.createApp();
  app.onError(errorHandler(log, 'page'));
  return (
    app
      .get('/', (c) => c.redirect(c.get('client').sessionToken === '' ? '/login' : '/profile', 303))
      .get('/login', (c) => {
        const flash = takeFlash(c);
        if (signedIn(c, flash)) return c.redirect('/profile', 303);
        return renderPage(c, <LoginPage flash={flash} />);
      })
      .post('/login', limit, async (c) => {
        const form = await readForm(c);
        const username = formText(form, 'username', MAX_USERNAME_CHARS);
        const password = formText(form, 'password', MAX_PASSWORD_CHARS);
        // A ticked checkbox sends its value; an unticked one sends nothing.
        const remember = formText(form, 'remember', MAX_CSRF_CHARS) === 'yes';
        const client = c.get('client');
        try {
          const session = await rpc.call(
            'login',
            {
              username,
              password,
              currentToken: client.sessionToken,
              deviceCookie: client.deviceCookie,
              remember,
              userAgent: client.userAgent,
              // Two-step login: a ticket for the code's page rather than OTP_REQUIRED.
              wantTicket: true,
            },
            client.callOptions(true, usernameKey(username)),
          );
          if (session.secondStep !== undefined) {
            setLoginStep(c, session.secondStep, client.https, { username, remember });
            return c.redirect('/login/code', 303);
          }
          setLoginCookies(c, session, client.https);
          return c.redirect('/profile', 303);
        } catch (err) {
          const values = { username, remember: remember ? 'yes' : '' };
          const flash =
            err instanceof RpcError && err.code === Status.UNAUTHENTICATED
              ? { error: err.message, values }
              : formFlash(err, values);
          if (flash === null) throw err;
          return back(c, '/login', flash);
        }
      })
      .get('/register', async (c) => {
        const flash = takeFlash(c);
        if (signedIn(c, flash)) return c.redirect('/profile', 303);
        const rules = await rpc.call('getAccountRules', {}, c.get('client').callOptions());
        return renderPage(c, <RegisterPage flash={flash} rules={rules} />);
      })
      .post('/register', limit, async (c) => {
        const form = await readForm(c);
        const username = formText(form, 'username', MAX_USERNAME_CHARS);
        const password = formText(form, 'password', MAX_PASSWORD_CHARS);
        const nickname = formText(form, 'nickname', MAX_NICKNAME_CHARS);
        const values = { username, nickname };
        if (password !== formText(form, 'password2', MAX_PASSWORD_CHARS)) {
          return back(c, '/register', {
            fields: { password2: MESSAGES.PASSWORDS_DIFFER },
            values,
          });
        }
        const client = c.get('client');
        try {
          await rpc.call(
            'register',
            { username, password, nickname },
            client.callOptions(true, usernameKey(username)),
          );
        } catch (err) {
          const flash = formFlash(err, values);
          if (flash === null) throw err;
          return back(c, '/register', flash);
        }
        try {
          const session = await rpc.call(
            'login',
            { username, password, userAgent: client.userAgent },
            client.callOptions(true, usernameKey(username)),
          );
          setLoginCookies(c, session, client.https);
          return back(c, '/profile', { notice: 'welcome! Your account is ready.' });
        } catch {
          // The account exists; only the automatic login failed (e.g. too busy).
          return back(c, '/login', {
            notice: 'your account is ready: log in with it',
            values: { username },
          });
        }
      })
      // Typed or bookmarked: a GET changes nothing (a link or an image on another site could
      // send one), so it leads to the profile's Log out button, or to the login page.
      .get('/logout', (c) =>
        c.get('client').sessionToken === ''
          ? back(c, '/login', { notice: 'you are not logged in' })
          : back(c, '/profile', { notice: 'to log out, use the Log out button of this page' }),
      )
      .post('/logout', limit, async (c) => {
        const form = await readForm(c);
        const client = c.get('client');
        try {
          await rpc.call(
            'logout',
            {
              auth: {
                token: client.sessionToken,
                csrfToken: formText(form, 'csrf', MAX_CSRF_CHARS),
              },
            },
            client.callOptions(),
          );
        } catch (err) {
          // Already logged out is fine; a bad anti-CSRF token is not (403 page).
          if (!(err instanceof RpcError && err.code === Status.UNAUTHENTICATED)) throw err;
        }
        clearSessionCookie(c, client.https);
        return back(c, '/login', { notice: 'you are logged out' });
      })
  );
}
