import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';
import { readJsonObject, stringField } from '../json.ts';
import { callOptions } from '../request-info.ts';
import { isHttps, sessionToken, setSessionCookie } from '../session-cookie.ts';
import { userJson } from '../user-json.ts';

/** Generous bounds for strings that the TCP server then checks exactly. */
export const MAX_USERNAME_CHARS = 64;
export const MAX_PASSWORD_CHARS = 1024;
export const MAX_NICKNAME_CHARS = 1024;

/** Sign-up and login: the calls that need no session. */
export function openApiRoutes({ rpc, config }: AppDeps) {
  const maxJson = config.http.maxJsonBytes;
  return new Hono()
    .post('/open_api/v1/register', async (c) => {
      const body = await readJsonObject(c, maxJson);
      const input = {
        username: stringField(body, 'username', MAX_USERNAME_CHARS),
        password: stringField(body, 'password', MAX_PASSWORD_CHARS),
        nickname: stringField(body, 'nickname', MAX_NICKNAME_CHARS, false),
      };
      const { user } = await rpc.call('register', input, callOptions(c, config.trustProxy));
      return c.json({ user: userJson(user) });
    })
    .post('/open_api/v1/authenticate', async (c) => {
      const body = await readJsonObject(c, maxJson);
      const https = isHttps(c, config.trustProxy);
      const input = {
        username: stringField(body, 'username', MAX_USERNAME_CHARS),
        password: stringField(body, 'password', MAX_PASSWORD_CHARS, false),
        // A session the client already holds lets its owner past the per-account throttle.
        currentToken: sessionToken(c, https).token,
      };
      const session = await rpc.call('login', input, callOptions(c, config.trustProxy));
      setSessionCookie(c, session.token, Number(session.expiresAtMs), https);
      return c.json({ token: session.token });
    });
}
