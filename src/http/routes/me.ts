import type { BodyRoute } from '../app-deps.ts';
import { factory } from '../env.ts';
import { readJsonObject, stringField } from '../json.ts';
import { MAX_NICKNAME_CHARS } from '../limits.ts';
import { clearSessionCookie } from '../session-cookie.ts';
import { userJson } from '../user-json.ts';

/**
 * The logged-in user's own account. The token comes from the cookie or
 * `Authorization: Bearer`. These calls do not use the client address, so
 * their call options skip looking it up.
 */
export function meRoutes({ rpc, maxJsonBytes }: BodyRoute) {
  return factory
    .createApp()
    .get('/api/v1/me', async (c) => {
      const client = c.get('client');
      const { user } = await rpc.call(
        'getProfile',
        { auth: { token: client.sessionToken } },
        client.callOptions(false),
      );
      return c.json({ user: userJson(user) });
    })
    .patch('/api/v1/me', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes);
      const nickname = stringField(body, 'nickname', MAX_NICKNAME_CHARS);
      const client = c.get('client');
      const { user } = await rpc.call(
        'updateNickname',
        { auth: { token: client.sessionToken }, nickname },
        client.callOptions(false),
      );
      return c.json({ user: userJson(user) });
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
