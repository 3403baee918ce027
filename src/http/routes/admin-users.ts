/**
 * The admin API, `/users`: any account, for the holder of ADMIN_TOKEN. This
 * server checks the shape of each request and passes the bearer token on;
 * the TCP server checks the token (before anything else), decides, and
 * writes the audit line.
 *
 * A request whose shape is refused here is first shown to the TCP server
 * (the AdminCheck call): a caller without the token gets 401, or 404 when
 * the admin API is off, exactly as for a well-formed request, so it learns
 * nothing about the API, and the refusal is audited like any admin call.
 *
 * With the admin API off, the TCP server answers NOT_FOUND "no such route";
 * that answer becomes this server's own not-found answer (an HTML page for a
 * browser, JSON otherwise), so no Accept header tells the two apart.
 */
import type { Context } from 'hono';
import { requestQuery } from '../../lib/request-path.ts';
import type { CallOptions } from '../../rpc/client.ts';
import { FIELD_MESSAGES, MESSAGES } from '../../wire/messages.ts';
import { invalidArgument, RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { BodyRoute } from '../app-deps.ts';
import { bearerToken } from '../client-request.ts';
import { type AppEnv, factory } from '../env.ts';
import { optionalBooleanField, optionalStringField, readJsonObject, stringField } from '../json.ts';
import { MAX_NICKNAME_CHARS, MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS } from '../limits.ts';
import { adminUserJson } from '../user-json.ts';

type Action = 'create' | 'get' | 'update' | 'delete' | 'list';

interface AdminRequest {
  token: string;
  options: CallOptions;
}

/** Ids are 64-bit unsigned on the wire: canonical decimals up to 2^64-1. */
const ID = /^(0|[1-9][0-9]{0,19})$/;
const MAX_WIRE_ID = (1n << 64n) - 1n;
const LIST_PARAMS = ['limit', 'cursor', 'username_prefix'];
/** Far above what the TCP server accepts; only keeps absurd input off the wire. */
const MAX_CURSOR_CHARS = 512;
const MAX_PREFIX_CHARS = 64;

/**
 * What every admin call carries: the token (from `Authorization: Bearer`,
 * never from a cookie), and the client address and request id for the audit line.
 */
function admin(c: Context<AppEnv>): AdminRequest {
  return {
    token: bearerToken(c.req.header('authorization')),
    options: c.get('client').callOptions(),
  };
}

export function adminUserRoutes({ rpc, maxJsonBytes: maxJson }: BodyRoute) {
  /** Runs this server's checks of a request; a refusal goes past the TCP server's token check first. */
  async function checked<T>(
    request: AdminRequest,
    action: Action,
    userId: string,
    parse: () => T | Promise<T>,
  ): Promise<T> {
    try {
      return await parse();
    } catch (err) {
      const refusal = err instanceof RpcError ? err.code : Status.INVALID_ARGUMENT;
      // Throws 401, or 404 when the admin API is off; else the refusal stands.
      await rpc.call(
        'adminCheck',
        { adminToken: request.token, action, userId, refusal },
        request.options,
      );
      throw err;
    }
  }

  return factory
    .createApp()
    .post('/users', async (c) => {
      const request = admin(c);
      const input = await checked(request, 'create', '', async () => {
        const body = await readJsonObject(c, maxJson, ['username', 'password', 'nickname']);
        return {
          username: stringField(body, 'username', MAX_USERNAME_CHARS),
          password: stringField(body, 'password', MAX_PASSWORD_CHARS),
          nickname: stringField(body, 'nickname', MAX_NICKNAME_CHARS, false),
        };
      });
      const json = adminUserJson(
        await rpc.call('adminCreateUser', { adminToken: request.token, ...input }, request.options),
      );
      c.header('Location', `/users/${json.id}`);
      return c.json({ user: json }, 201);
    })
    .get('/users', async (c) => {
      const request = admin(c);
      const query = await checked(request, 'list', '', () => listQuery(c));
      const page = await rpc.call(
        'adminListUsers',
        { adminToken: request.token, ...query },
        request.options,
      );
      return c.json({
        users: page.users.map((user, i) => adminUserJson({ user, twoStep: page.twoStep[i] })),
        next_cursor: page.nextCursor === '' ? null : page.nextCursor,
      });
    })
    .get('/users/:id', async (c) => {
      const request = admin(c);
      const id = await checked(request, 'get', '', () => userId(c.req.param('id')));
      const answer = await rpc.call(
        'adminGetUser',
        { adminToken: request.token, id },
        request.options,
      );
      return c.json({ user: adminUserJson(answer) });
    })
    .put('/users/:id', async (c) => {
      const request = admin(c);
      const id = await checked(request, 'update', '', () => userId(c.req.param('id')));
      const changes = await checked(request, 'update', id, async () => {
        const body = await readJsonObject(c, maxJson, [
          'nickname',
          'password',
          'username',
          'two_step',
        ]);
        return {
          nickname: optionalStringField(body, 'nickname', MAX_NICKNAME_CHARS),
          password: optionalStringField(body, 'password', MAX_PASSWORD_CHARS),
          username: optionalStringField(body, 'username', MAX_USERNAME_CHARS),
          twoStep: optionalBooleanField(body, 'two_step'),
        };
      });
      const answer = await rpc.call(
        'adminUpdateUser',
        { adminToken: request.token, id, ...changes },
        request.options,
      );
      return c.json({ user: adminUserJson(answer) });
    })
    .delete('/users/:id', async (c) => {
      const request = admin(c);
      const id = await checked(request, 'delete', '', () => userId(c.req.param('id')));
      await rpc.call('adminDeleteUser', { adminToken: request.token, id }, request.options);
      return c.body(null, 204);
    })
    .onError((err, c) => {
      if (
        err instanceof RpcError &&
        err.code === Status.NOT_FOUND &&
        err.message === MESSAGES.NO_SUCH_ROUTE
      )
        return c.notFound();
      throw err;
    });
}

/** A path id that can name a user; anything else names nobody (404). */
function userId(raw: string): string {
  if (!ID.test(raw) || BigInt(raw) > MAX_WIRE_ID) {
    throw new RpcError(Status.NOT_FOUND, MESSAGES.NO_SUCH_USER);
  }
  return raw;
}

/**
 * The listing's query parameters: known ones only, each at most once.
 * Empty means absent. The TCP server checks the values' meaning (limit up to
 * 500, prefix characters, cursor); here only what must fit on the wire.
 */
function listQuery(c: Context): { limit: number; cursor: string; usernamePrefix: string } {
  const params = requestQuery(c.req.url);
  const seen = new Set<string>();
  for (const name of params.keys()) {
    const shown = name.slice(0, 64);
    if (!LIST_PARAMS.includes(name)) {
      throw invalidArgument(`unknown query parameter ${JSON.stringify(shown)}`, shown);
    }
    if (seen.has(name)) throw invalidArgument(`${name} must be given at most once`, name);
    seen.add(name);
  }
  const limit = params.get('limit') ?? '';
  // 1..999999999 fits the wire's uint32; 0 would mean "the default" there.
  if (limit !== '' && !/^[1-9][0-9]{0,8}$/.test(limit)) {
    throw invalidArgument('limit must be an integer from 1 to 500', 'limit');
  }
  const cursor = params.get('cursor') ?? '';
  if (cursor.length > MAX_CURSOR_CHARS) throw invalidArgument(MESSAGES.FOREIGN_CURSOR, 'cursor');
  const usernamePrefix = params.get('username_prefix') ?? '';
  if (usernamePrefix.length > MAX_PREFIX_CHARS) {
    throw invalidArgument(FIELD_MESSAGES.tooLong('username_prefix'), 'username_prefix');
  }
  return { limit: limit === '' ? 0 : Number(limit), cursor, usernamePrefix };
}
