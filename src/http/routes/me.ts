import { type Context, Hono } from 'hono';
import type { AppDeps } from '../app.ts';
import { readJsonObject, stringField } from '../json.ts';
import { callOptions } from '../request-info.ts';
import { clearSessionCookie, isHttps, sessionToken } from '../session-cookie.ts';
import { userJson } from '../user-json.ts';
import { MAX_NICKNAME_CHARS } from './open-api.ts';

/** The logged-in user's own account. The token comes from the cookie or `Authorization: Bearer`. */
export function meRoutes({ rpc, config }: AppDeps) {
  const maxJson = config.http.maxJsonBytes;
  // These calls do not use the client address; skip looking it up.
  const options = (c: Context) => callOptions(c, config.trustProxy, false);
  const auth = (c: Context) => ({
    auth: { token: sessionToken(c, isHttps(c, config.trustProxy)).token },
  });

  return new Hono()
    .get('/api/v1/me', async (c) => {
      const { user } = await rpc.call('getProfile', auth(c), options(c));
      return c.json({ user: userJson(user) });
    })
    .patch('/api/v1/me', async (c) => {
      const body = await readJsonObject(c, maxJson);
      const nickname = stringField(body, 'nickname', MAX_NICKNAME_CHARS);
      const { user } = await rpc.call('updateNickname', { ...auth(c), nickname }, options(c));
      return c.json({ user: userJson(user) });
    })
    .post('/api/v1/logout', async (c) => {
      await rpc.call('logout', auth(c), options(c));
      clearSessionCookie(c, isHttps(c, config.trustProxy));
      return c.json({ status: 'logged out' });
    })
    .post('/api/v1/logout-all', async (c) => {
      await rpc.call('logoutAll', auth(c), options(c));
      clearSessionCookie(c, isHttps(c, config.trustProxy));
      return c.json({ status: 'logged out everywhere' });
    });
}
