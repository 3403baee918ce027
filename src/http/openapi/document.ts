/**
 * The OpenAPI 3.1 description of the whole HTTP API, served at GET /openapi.json.
 * Kept true by tests: document.test.ts fails when a route of the app is not
 * described here or a described one does not exist, and the integration
 * tests check real answers against the schemas.
 */
import type {
  ContentObject,
  OpenAPIObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
  SecurityRequirementObject,
} from 'openapi3-ts/oas31';
import { usernamePrefixPattern } from '../../wire/account-rules.ts';
import { components } from './components.ts';

const json = (schema: SchemaObject): ContentObject => ({ 'application/json': { schema } });
const schema = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
const answer = (description: string, name: string): ResponseObject => ({
  description,
  content: json(schema(name)),
});
const failure = (name: string): ReferenceObject => ({ $ref: `#/components/responses/${name}` });
const body = (name: string) => ({ required: true, content: json(schema(name)) });

/** What any call through the TCP server may also answer. */
const rpcFailures = {
  '503': failure('Unavailable'),
  '504': failure('DeadlineExceeded'),
  '500': failure('Internal'),
};
/** What any JSON body may be refused with before it is looked at. */
const bodyFailures = {
  '400': failure('BadRequest'),
  '413': failure('PayloadTooLarge'),
  '415': failure('UnsupportedMedia'),
};
type Security = SecurityRequirementObject[];
const session: Security = [{ sessionBearer: [] }, { sessionCookie: [] }];
const admin: Security = [{ adminToken: [] }];
const none: Security = [];

const adminCall =
  'Needs `Authorization: Bearer <ADMIN_TOKEN>`, checked (by the TCP server) before anything ' +
  'else, even before the request is validated. Every call writes one audit line to the TCP ' +
  "server's log: the action, the user, the result, the client address and the request id " +
  '(sent back as `X-Request-Id`; a short `X-Request-Id` is kept only from a proxy trusted ' +
  'with TRUST_PROXY, which should set its own).';

export const openApiDocument: OpenAPIObject = {
  openapi: '3.1.0',
  info: {
    title: 'usermgr',
    version: '0.1.0',
    description:
      'Sign-up, login and profiles; and, for operators, the admin API over every account. ' +
      'JSON in and out; errors always have the body `{"error":{"code","message","field?"}}`.',
  },
  // Relative: the server that serves this document, at whatever address the
  // client reached it (directly or through a proxy). Never built from the
  // Host header, which the client chooses.
  servers: [{ url: '/', description: 'The server that serves this document.' }],
  tags: [
    { name: 'accounts', description: 'Sign-up, login and the logged-in user.' },
    { name: 'admin', description: 'Every account, for the holder of ADMIN_TOKEN.' },
    { name: 'operations', description: 'Health, readiness and this description.' },
  ],
  paths: {
    '/open_api/v1/register': {
      post: {
        operationId: 'register',
        summary: 'Create an account',
        tags: ['accounts'],
        security: none,
        requestBody: body('NewUser'),
        responses: {
          '200': answer('The new user.', 'UserAnswer'),
          ...bodyFailures,
          '403': failure('CrossSite'),
          '409': failure('Conflict'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/open_api/v1/authenticate': {
      post: {
        operationId: 'authenticate',
        summary: 'Log in',
        description:
          'Answers the session token and sets it as an HttpOnly, SameSite=Lax cookie: for the ' +
          'browser session, or with `"remember": true` ("keep me logged in") for ' +
          'SESSION_REMEMBER_TTL_S, renewed as it is used. An ' +
          'unknown username and a wrong password get the same answer, after the same work. ' +
          'Also sets a device cookie (`device`, `__Host-device` over HTTPS): sent back on later ' +
          'logins, it lets this client past the per-account lock-out that others can trip, ' +
          'until it has seen too many wrong passwords itself.\n\n' +
          'Two-step login: for an account that has it on, a correct password without `otp` is ' +
          'answered 401 with the code `OTP_REQUIRED` (and only a correct password is: a wrong ' +
          'one is the usual 401 `UNAUTHENTICATED`); send the credentials again with `otp`, the ' +
          'code of the authenticator app or one of the recovery codes. A wrong or already used ' +
          'code is `OTP_REQUIRED` again. Each code works once; wrong codes count like wrong ' +
          'passwords for the throttle (429).',
        tags: ['accounts'],
        security: none,
        requestBody: body('Credentials'),
        responses: {
          '200': {
            description: 'Logged in.',
            headers: {
              'Set-Cookie': {
                description: 'The session cookie and the device cookie.',
                schema: { type: 'string' },
              },
            },
            content: json(schema('Token')),
          },
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me': {
      get: {
        operationId: 'getMe',
        summary: 'The logged-in user',
        description:
          'With the session cookie, also renews it once a quarter of its lifetime has passed ' +
          '(a new cookie, same session, expiring a whole lifetime later: sliding expiry). A ' +
          'bearer token is never renewed.',
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('The user.', 'UserAnswer'),
          '401': failure('Unauthenticated'),
          ...rpcFailures,
        },
      },
      delete: {
        operationId: 'deleteMe',
        summary: "Delete the logged-in user's account",
        description:
          'Needs the password, checked like a login (a wrong one is a failed attempt for the ' +
          'throttle), and with two-step login on a code too (`code`). The account, its sessions and its picture (unless another user has the ' +
          'same one) are gone; the cookie is cleared; the username is free at once. Writes an ' +
          "audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        requestBody: body('AccountDeletion'),
        responses: {
          '204': { description: 'Deleted.' },
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
      patch: {
        operationId: 'updateMe',
        summary: "Change the logged-in user's nickname",
        tags: ['accounts'],
        security: session,
        requestBody: body('NicknameChange'),
        responses: {
          '200': answer('The changed user.', 'UserAnswer'),
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/picture': {
      delete: {
        operationId: 'removeMyPicture',
        summary: "Take the logged-in user's picture away",
        description:
          'Its files are removed unless another user has the same picture. Writes an audit ' +
          "line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('The user, with `picture_url` null.', 'UserAnswer'),
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          ...rpcFailures,
        },
      },
      put: {
        operationId: 'setMyPicture',
        summary: "Replace the logged-in user's picture",
        description:
          'The image is checked (JPEG, PNG, WebP or GIF by its bytes; at most ' +
          'PICTURE_MAX_PIXELS, refused before decoding), turned upright, stripped of ' +
          'metadata, cropped to a centred square and stored as 256 and 64 px WebP under a ' +
          'random name of its own. The previous picture is removed.',
        tags: ['accounts'],
        security: session,
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['picture'],
                properties: { picture: { type: 'string', contentEncoding: 'binary' } },
              },
            },
            'image/*': { schema: { type: 'string', contentEncoding: 'binary' } },
          },
        },
        responses: {
          '200': answer('The user, with the new picture_url.', 'UserAnswer'),
          '400': failure('BadRequest'),
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '413': failure('PictureTooLarge'),
          '415': failure('NotAPicture'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/password': {
      put: {
        operationId: 'changeMyPassword',
        summary: "Change the logged-in user's password",
        description:
          'Needs the current password, checked like a login (a wrong one is a failed attempt ' +
          'for the throttle), and with two-step login on a code too (`code`). Every session of the user ends; the answer is a new session ' +
          'for this client, also set as the cookie when the call came with the cookie. ' +
          "Writes an audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        requestBody: body('PasswordChange'),
        responses: {
          // Set-Cookie only when the session came by cookie: not a header every answer has.
          '200': answer('Changed; the new session.', 'Token'),
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/sessions': {
      get: {
        operationId: 'listMySessions',
        summary: 'Where the logged-in user is logged in',
        description:
          "The user's live sessions, newest first, with the browser and system read from " +
          'the User-Agent of each login, its address and start; `current` marks this one.',
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('The live sessions.', 'Sessions'),
          '401': failure('Unauthenticated'),
          '429': failure('TooManySessionCalls'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/sessions/{id}': {
      delete: {
        operationId: 'endMySession',
        summary: 'Log one of the sessions out',
        description:
          'The session is refused at once, by every server. Ending this very session clears ' +
          "the cookie, as logging out does. Writes an audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        parameters: [{ $ref: '#/components/parameters/SessionId' }],
        responses: {
          '204': { description: 'Logged out.' },
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '404': failure('NoSuchSession'),
          '429': failure('TooManySessionCalls'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/totp': {
      post: {
        operationId: 'startTotp',
        summary: 'Start setting up two-step login',
        description:
          'A new TOTP secret (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps), kept pending ' +
          'until a first code and the password confirm it in the same session, within 15 ' +
          'minutes; another session of the user neither sees nor confirms it, and gets its own. ' +
          'Starting again in the same session gives the same secret until then. Refused (409) while two-step login is on. Show `otpauth_url` as a QR code, or ' +
          "`secret` as text. Writes an audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('The secret to set up.', 'TotpSecret'),
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '409': failure('TotpOn'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
      delete: {
        operationId: 'disableTotp',
        summary: 'Turn two-step login off',
        description:
          'Needs the password and a code (or a recovery code), each checked like at a login ' +
          '(wrong ones are failed attempts for the throttle). The secret and the recovery codes ' +
          "are deleted. Writes an audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        requestBody: body('TotpDisabling'),
        responses: {
          '204': { description: 'Two-step login is off.' },
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '404': failure('TotpOff'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/me/totp/confirm': {
      post: {
        operationId: 'confirmTotp',
        summary: 'Turn two-step login on with a first code',
        description:
          'The code the app shows now for the pending secret (one step of clock drift is ' +
          'allowed), and the password, checked like at a login (a session alone must not be ' +
          "enough to put a second step of someone else's in front of the owner). From here " +
          'on, logins need a code. Answers ten recovery codes, each good ' +
          'for one login instead of a code: they are not kept (only their hashes) and cannot ' +
          "be shown again. Writes an audit line to the TCP server's log.",
        tags: ['accounts'],
        security: session,
        requestBody: body('TotpConfirmation'),
        responses: {
          '200': answer('Two-step login is on.', 'RecoveryCodes'),
          ...bodyFailures,
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          '404': failure('TotpNotStarted'),
          '409': failure('TotpOn'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
    },
    '/pictures/{file}': {
      get: {
        operationId: 'getPicture',
        summary: 'A stored picture',
        description:
          'Names come from `picture_url`: `<name>.webp` (256 px) or `<name>-64.webp` ' +
          '(64 px), `<name>` 64 hex digits, random per upload. Immutable: cached for a year, ' +
          'with an ETag (304 on If-None-Match).',
        tags: ['accounts'],
        security: none,
        parameters: [
          {
            name: 'file',
            in: 'path',
            required: true,
            description: 'The picture file name.',
            schema: { type: 'string', pattern: '^[0-9a-f]{64}(-64)?\\.webp$' },
          },
        ],
        responses: {
          '200': {
            description: 'The picture.',
            content: { 'image/webp': { schema: { type: 'string', contentEncoding: 'binary' } } },
          },
          '304': { description: 'Not modified.' },
          '404': failure('NoSuchPicture'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/logout': {
      post: {
        operationId: 'logout',
        summary: 'End this session',
        description: 'The token stops working at once, and the cookie is cleared.',
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('Logged out.', 'Status'),
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          ...rpcFailures,
        },
      },
    },
    '/api/v1/logout-all': {
      post: {
        operationId: 'logoutAll',
        summary: 'End every session of the user',
        tags: ['accounts'],
        security: session,
        responses: {
          '200': answer('Logged out everywhere.', 'Status'),
          '401': failure('Unauthenticated'),
          '403': failure('CrossSite'),
          ...rpcFailures,
        },
      },
    },
    '/users': {
      post: {
        operationId: 'adminCreateUser',
        summary: 'Create a user',
        description: adminCall,
        tags: ['admin'],
        security: admin,
        requestBody: body('NewAdminUser'),
        responses: {
          '201': {
            description: 'Created.',
            headers: {
              Location: {
                description: 'The new user: /users/{id}.',
                schema: { type: 'string' },
              },
            },
            content: json(schema('AdminUserAnswer')),
          },
          ...bodyFailures,
          '401': failure('AdminUnauthenticated'),
          '404': failure('AdminNotFound'),
          '409': failure('Conflict'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
      get: {
        operationId: 'adminListUsers',
        summary: 'List users, a page at a time',
        description:
          `${adminCall}\n\nKeyset pagination: without \`username_prefix\` in id order, with it ` +
          'the users whose username starts with it (regardless of case), in username order. ' +
          'Each page costs the same however deep it is (no OFFSET, no COUNT). A user created ' +
          'or deleted during a walk may or may not be listed; every user that exists for the ' +
          'whole walk is listed exactly once.',
        tags: ['admin'],
        security: admin,
        parameters: [
          {
            name: 'limit',
            in: 'query',
            description: 'Users per page.',
            schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
          {
            name: 'cursor',
            in: 'query',
            description:
              '`next_cursor` of the previous page, as it was; absent for the first page. A ' +
              'cursor belongs to its `username_prefix`; anything else is refused (400).',
            schema: { type: 'string', pattern: '^[A-Za-z0-9_-]*$' },
          },
          {
            name: 'username_prefix',
            in: 'query',
            description: 'Only usernames starting with this, regardless of case.',
            schema: { type: 'string', pattern: usernamePrefixPattern(0) },
          },
        ],
        responses: {
          '200': answer('A page of users.', 'UserPage'),
          '400': failure('BadRequest'),
          '401': failure('AdminUnauthenticated'),
          '404': failure('AdminNotFound'),
          ...rpcFailures,
        },
      },
    },
    '/users/{id}': {
      get: {
        operationId: 'adminGetUser',
        summary: 'Read a user',
        description: adminCall,
        tags: ['admin'],
        security: admin,
        parameters: [{ $ref: '#/components/parameters/UserId' }],
        responses: {
          '200': answer('The user.', 'AdminUserAnswer'),
          '401': failure('AdminUnauthenticated'),
          '404': failure('AdminNotFound'),
          ...rpcFailures,
        },
      },
      put: {
        operationId: 'adminUpdateUser',
        summary: "Change a user's nickname and/or password, or turn their two-step login off",
        description:
          `${adminCall}\n\nA new password is hashed again and ends every session of the ` +
          'user: tokens issued before it are refused (401).',
        tags: ['admin'],
        security: admin,
        parameters: [{ $ref: '#/components/parameters/UserId' }],
        requestBody: body('UserChanges'),
        responses: {
          '200': answer('The user as it is now.', 'AdminUserAnswer'),
          ...bodyFailures,
          '401': failure('AdminUnauthenticated'),
          '404': failure('AdminNotFound'),
          '429': failure('TooManyRequests'),
          ...rpcFailures,
        },
      },
      delete: {
        operationId: 'adminDeleteUser',
        summary: 'Delete a user',
        description:
          `${adminCall}\n\nThe user's sessions stop working at once and its cache entry is ` +
          'removed; the username is free again.',
        tags: ['admin'],
        security: admin,
        parameters: [{ $ref: '#/components/parameters/UserId' }],
        responses: {
          '204': { description: 'Deleted.' },
          '401': failure('AdminUnauthenticated'),
          '404': failure('AdminNotFound'),
          ...rpcFailures,
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness',
        description: 'The process is alive. Depends on nothing.',
        tags: ['operations'],
        security: none,
        responses: { '200': answer('Alive.', 'Status') },
      },
    },
    '/readyz': {
      get: {
        operationId: 'ready',
        summary: 'Readiness',
        description: 'Ready when a ping reaches a TCP server through the pool.',
        tags: ['operations'],
        security: none,
        responses: {
          '200': answer('Ready.', 'Ready'),
          '503': failure('Unavailable'),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openApi',
        summary: 'This description',
        tags: ['operations'],
        security: none,
        responses: {
          '200': {
            description: 'The OpenAPI 3.1 document.',
            content: json({ type: 'object' }),
          },
        },
      },
    },
  },
  components,
};
