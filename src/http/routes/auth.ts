/** Sign-up and login through the API: the calls that need no session. */

import { usernameKey } from '../affinity-key.ts';
import type { BodyRoute } from '../app-deps.ts';
import { factory } from '../env.ts';
import { booleanField, readFields, readJsonObject, stringField } from '../json.ts';
import {
  MAX_NICKNAME_CHARS,
  MAX_OTP_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_USERNAME_CHARS,
} from '../limits.ts';
import { setLoginCookies } from '../session-cookie.ts';
import { userJson } from '../user-json.ts';

const LOGIN_FIELDS = ['username', 'password', 'otp', 'remember'] as const;

export function authRoutes({ rpc, maxJsonBytes }: BodyRoute) {
  return factory
    .createApp()
    .post('/open_api/v1/register', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, ['username', 'password', 'nickname']);
      const input = readFields({
        username: () => stringField(body, 'username', MAX_USERNAME_CHARS),
        password: () => stringField(body, 'password', MAX_PASSWORD_CHARS),
        nickname: () => stringField(body, 'nickname', MAX_NICKNAME_CHARS, false),
      });
      const { user } = await rpc.call(
        'register',
        input,
        c.get('client').callOptions(true, usernameKey(input.username)),
      );
      return c.json({ user: userJson(user) });
    })
    .post('/open_api/v1/authenticate', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, LOGIN_FIELDS);
      const client = c.get('client');
      const input = {
        username: stringField(body, 'username', MAX_USERNAME_CHARS),
        password: stringField(body, 'password', MAX_PASSWORD_CHARS, false),
        // For an account with two-step login: the code, or a recovery code.
        otp: stringField(body, 'otp', MAX_OTP_CHARS, false),
        // A session the client already holds lets its owner past the per-account throttle.
        currentToken: client.sessionToken,
        // Kept like a browser keeps it: a device that logged in before is judged by its own failures.
        deviceCookie: client.deviceCookie,
        // "Keep me logged in": the longer lifetime, and a cookie with a Max-Age.
        remember: booleanField(body, 'remember'),
        userAgent: client.userAgent,
      };
      const session = await rpc.call(
        'login',
        input,
        client.callOptions(true, usernameKey(input.username)),
      );
      setLoginCookies(c, session, client.https);
      return c.json({ token: session.token });
    });
}
