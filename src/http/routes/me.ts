import type { BodyRoute } from '../app-deps.ts';
import { factory } from '../env.ts';
import { readJsonObject, stringField } from '../json.ts';
import {
  MAX_NICKNAME_CHARS,
  MAX_OTP_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_SESSION_ID_CHARS,
} from '../limits.ts';
import { clearSessionCookie, setDeviceCookie, setSessionCookie } from '../session-cookie.ts';
import { sessionJson, userJson } from '../user-json.ts';

/**
 * The logged-in user's own account. The token comes from the cookie or
 * `Authorization: Bearer`. Calls that do not use the client address skip
 * looking it up; a password change uses it (the login throttle).
 */
export function meRoutes({ rpc, maxJsonBytes }: BodyRoute) {
  return factory
    .createApp()
    .get('/api/v1/me', async (c) => {
      const client = c.get('client');
      // A cookie is renewed as it is used (sliding expiry); a bearer token is what it is.
      const renew = client.sessionByCookie;
      const { user, renewed } = await rpc.call(
        'getProfile',
        { auth: { token: client.sessionToken }, renew },
        client.callOptions(false),
      );
      if (renew && renewed !== undefined) setSessionCookie(c, renewed, client.https);
      return c.json({ user: userJson(user) });
    })
    .patch('/api/v1/me', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, ['nickname']);
      const nickname = stringField(body, 'nickname', MAX_NICKNAME_CHARS);
      const client = c.get('client');
      const { user } = await rpc.call(
        'updateNickname',
        { auth: { token: client.sessionToken }, nickname },
        client.callOptions(false),
      );
      return c.json({ user: userJson(user) });
    })
    .delete('/api/v1/me', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, ['password', 'code']);
      const password = stringField(body, 'password', MAX_PASSWORD_CHARS);
      // With two-step login on, a code too (OTP_REQUIRED without one).
      const code = stringField(body, 'code', MAX_OTP_CHARS, false);
      const client = c.get('client');
      await rpc.call(
        'deleteAccount',
        { auth: { token: client.sessionToken }, password, code },
        client.callOptions(),
      );
      clearSessionCookie(c, client.https);
      return c.body(null, 204);
    })
    .put('/api/v1/me/password', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, [
        'current_password',
        'new_password',
        'code',
      ]);
      const input = {
        currentPassword: stringField(body, 'current_password', MAX_PASSWORD_CHARS),
        newPassword: stringField(body, 'new_password', MAX_PASSWORD_CHARS),
        code: stringField(body, 'code', MAX_OTP_CHARS, false),
      };
      const client = c.get('client');
      const session = await rpc.call(
        'changePassword',
        { auth: { token: client.sessionToken }, ...input, userAgent: client.userAgent },
        client.callOptions(),
      );
      // The old cookie's session has just ended: a cookie client gets the new one.
      if (client.sessionByCookie) setSessionCookie(c, session, client.https);
      // The device cookies earned with the old password exempt nothing now: this client's does.
      setDeviceCookie(c, session, client.https);
      return c.json({ token: session.token });
    })
    .get('/api/v1/me/sessions', async (c) => {
      const client = c.get('client');
      const { sessions } = await rpc.call(
        'listSessions',
        { auth: { token: client.sessionToken } },
        client.callOptions(false),
      );
      return c.json({ sessions: sessions.map(sessionJson) });
    })
    .delete('/api/v1/me/sessions/:id', async (c) => {
      const client = c.get('client');
      const id = c.req.param('id');
      const { current } = await rpc.call(
        'endSession',
        // An id that long is none of the user's: sent empty, it is answered 404 like any other.
        { auth: { token: client.sessionToken }, id: id.length > MAX_SESSION_ID_CHARS ? '' : id },
        client.callOptions(),
      );
      if (current) clearSessionCookie(c, client.https);
      return c.body(null, 204);
    })
    .post('/api/v1/logout', async (c) => {
      const client = c.get('client');
      await rpc.call('logout', { auth: { token: client.sessionToken } }, client.callOptions(false));
      clearSessionCookie(c, client.https);
      return c.json({ status: 'logged out' });
    })
    .post('/api/v1/logout-all', async (c) => {
      const client = c.get('client');
      await rpc.call(
        'logoutAll',
        { auth: { token: client.sessionToken } },
        client.callOptions(false),
      );
      clearSessionCookie(c, client.https);
      return c.json({ status: 'logged out everywhere' });
    });
}
