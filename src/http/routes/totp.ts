/**
 * Two-step login (TOTP) for API clients: set it up, confirm it with a first
 * code and the password, turn it off with the password and a code. The session comes from `Authorization: Bearer` or the
 * cookie; the TCP server makes every decision.
 */
import type { BodyRoute } from '../app-deps.ts';
import { factory } from '../env.ts';
import { readJsonObject, stringField } from '../json.ts';
import { MAX_OTP_CHARS, MAX_PASSWORD_CHARS } from '../limits.ts';

export function totpRoutes({ rpc, maxJsonBytes }: BodyRoute) {
  return factory
    .createApp()
    .post('/api/v1/me/totp', async (c) => {
      const client = c.get('client');
      const { secret, otpauthUrl } = await rpc.call(
        'startTotp',
        { auth: { token: client.sessionToken } },
        client.callOptions(),
      );
      return c.json({ secret, otpauth_url: otpauthUrl });
    })
    .post('/api/v1/me/totp/confirm', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, ['code', 'password']);
      const code = stringField(body, 'code', MAX_OTP_CHARS);
      const password = stringField(body, 'password', MAX_PASSWORD_CHARS);
      const client = c.get('client');
      const { recoveryCodes } = await rpc.call(
        'confirmTotp',
        { auth: { token: client.sessionToken }, code, password },
        client.callOptions(),
      );
      return c.json({ recovery_codes: recoveryCodes });
    })
    .delete('/api/v1/me/totp', async (c) => {
      const body = await readJsonObject(c, maxJsonBytes, ['password', 'code']);
      const input = {
        password: stringField(body, 'password', MAX_PASSWORD_CHARS),
        code: stringField(body, 'code', MAX_OTP_CHARS),
      };
      const client = c.get('client');
      await rpc.call(
        'disableTotp',
        { auth: { token: client.sessionToken }, ...input },
        client.callOptions(),
      );
      return c.body(null, 204);
    });
}
