/**
 * The reusable parts of the OpenAPI description: JSON shapes, error answers,
 * parameters and credentials. Shapes follow user-json.ts, errors.ts and the
 * routes; the integration tests check real answers against them.
 */
import type {
  ComponentsObject,
  HeadersObject,
  ResponseObject,
  SchemaObject as Schema,
} from 'openapi3-ts/oas31';
import { ACCOUNT_RULES } from '../../wire/account-rules.ts';
import { METHOD_NOT_ALLOWED, Status, statusName } from '../../wire/status.ts';

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** The rules of account fields, in words and as schemas, from the rules the TCP server applies. */
const { username: USERNAME, password: PASSWORD, nickname: NICKNAME } = ACCOUNT_RULES;
/** Applied to the string as sent: the exact rule. */
const username = (description: string): Schema => ({
  type: 'string',
  pattern: `^(?:${USERNAME.pattern})$`,
  description,
});
/** "Username must be ..." and what the rule's words leave out. */
const rule = ({ text }: { text: string }, more: string) =>
  `${text[0]?.toUpperCase()}${text.slice(1)}. ${more}`;
const RULES = {
  username: rule(
    USERNAME,
    'Unique regardless of case. Spaces around it are dropped; send it without.',
  ),
  password: rule(PASSWORD, 'Counted in code points after NFC normalisation; never trimmed.'),
  nickname: rule(
    NICKNAME,
    'Any script or emoji, counted in characters as drawn (extended grapheme clusters: a ' +
      `flag or a family emoji is one) after NFC and trimming, and at most ${NICKNAME.maxCodePoints} ` +
      'code points in all; something visible, ' +
      'no control or text-direction characters, no invisible characters except a joiner ' +
      'between two characters and one variation selector after one.',
  ),
};

const user: Schema = {
  type: 'object',
  description: 'A user as the API shows it. Never the password or its hash.',
  properties: {
    id: {
      type: 'string',
      pattern: '^[0-9]{1,20}$',
      description: '64-bit id as a decimal string (ids exceed 2^53, so never a JSON number).',
      examples: ['250558285122371584'],
    },
    username: username('Unique regardless of case; the spelling given at creation is kept.'),
    // As stored: normalised and trimmed, so the bounds hold exactly. JSON Schema counts
    // code points, so maxLength is the code-point bound and the words give the other.
    nickname: {
      type: 'string',
      minLength: NICKNAME.minChars,
      maxLength: NICKNAME.maxCodePoints,
      description: `Any script or emoji: ${NICKNAME.minChars} to ${NICKNAME.maxChars} characters as drawn (extended grapheme clusters), at most ${NICKNAME.maxCodePoints} code points.`,
    },
    picture_url: {
      type: ['string', 'null'],
      description: 'Where the profile picture is served; null when there is none.',
    },
  },
  required: ['id', 'username', 'nickname', 'picture_url'],
  additionalProperties: false,
};

const timestamp = (what: string): Schema => ({
  type: 'string',
  format: 'date-time',
  description: `${what} (RFC 3339, UTC, millisecond precision).`,
  examples: ['2026-11-23T10:18:37.410Z'],
});

const adminUser: Schema = {
  ...user,
  description:
    'A user as the admin API shows it: the public shape, its timestamps and whether ' +
    'two-step login is on.',
  properties: {
    ...user.properties,
    created_at: timestamp('When the account was created'),
    updated_at: timestamp('When the nickname, password or picture last changed'),
    two_step: {
      type: 'boolean',
      description: 'Whether the user has two-step login (an authenticator code) on.',
    },
  },
  required: [...(user.required ?? []), 'created_at', 'updated_at', 'two_step'],
};

const string = (description: string): Schema => ({ type: 'string', description });

/**
 * The codes of error answers: every RPC status but the two that are not
 * errors (PAYLOAD_TOO_LARGE, the 413 the HTTP server answers before any
 * call, is one of them), each once, and the HTTP server's own 405.
 */
const errorCodes = [
  ...Object.values(Status)
    .filter(
      (s): s is Status => typeof s === 'number' && s !== Status.UNSPECIFIED && s !== Status.OK,
    )
    .map(statusName),
  METHOD_NOT_ALLOWED,
];

/** The code a change that can keep the owner out needs while two-step login is on. */
const TWO_STEP_CODE =
  'With two-step login on: the 6 digits the authenticator app shows now, or an unused ' +
  'recovery code, checked after the password. Left out: 401 `OTP_REQUIRED`, counting ' +
  'nothing; wrong: 401 `UNAUTHENTICATED` with `field` `code`, counted like a wrong code at ' +
  'a login. Ignored when two-step login is off.';

const schemas: Record<string, Schema> = {
  User: user,
  AdminUser: adminUser,
  UserAnswer: {
    type: 'object',
    properties: { user: ref('User') },
    required: ['user'],
    additionalProperties: false,
  },
  AdminUserAnswer: {
    type: 'object',
    properties: { user: ref('AdminUser') },
    required: ['user'],
    additionalProperties: false,
  },
  UserPage: {
    type: 'object',
    description:
      'One page of a listing. A page shorter than `limit` is the last one; a full page ' +
      'always has a cursor, so the page after it may be empty.',
    properties: {
      users: { type: 'array', items: ref('AdminUser') },
      next_cursor: {
        type: ['string', 'null'],
        description: 'Pass as `cursor` for the next page; null on the last page.',
      },
    },
    required: ['users', 'next_cursor'],
    additionalProperties: false,
  },
  Error: {
    type: 'object',
    description: 'The body of every error answer.',
    properties: {
      error: {
        type: 'object',
        properties: {
          code: { type: 'string', enum: errorCodes },
          message: string('Safe to show to the person using the client.'),
          field: string('The request field at fault, when one is (the first, when several are).'),
          fields: {
            type: 'object',
            description:
              'Every request field at fault with its message, whenever `field` is set: ' +
              'a sign-up names a taken username, a weak password and a wrong nickname at once.',
            additionalProperties: { type: 'string' },
          },
        },
        required: ['code', 'message'],
        additionalProperties: false,
      },
    },
    required: ['error'],
    additionalProperties: false,
  },
  Status: {
    type: 'object',
    properties: { status: string('What happened.') },
    required: ['status'],
    additionalProperties: false,
  },
  Ready: {
    type: 'object',
    properties: { status: { type: 'string', const: 'ready' } },
    required: ['status'],
    additionalProperties: false,
  },
  Session: {
    type: 'object',
    description: 'A live session of the user, as listed under "Where you\'re logged in".',
    properties: {
      id: {
        type: 'string',
        pattern: '^[A-Za-z0-9_-]{22}$',
        description:
          'Names the session for DELETE /api/v1/me/sessions/{id}. Derived from the session ' +
          'with a key of the server: neither the token nor anything that can stand for it.',
      },
      browser: {
        type: ['string', 'null'],
        description: 'From the User-Agent at login ("Firefox 128"); null when not recognised.',
      },
      system: {
        type: ['string', 'null'],
        description: 'From the User-Agent at login ("Windows"); null when not recognised.',
      },
      address: {
        type: ['string', 'null'],
        description: 'The client address at login; null when unknown.',
      },
      created_at: timestamp('When the session began (its login)'),
      expires_at: timestamp('When it ends unless used (renewals move it on)'),
      current: { type: 'boolean', description: 'The session of this request.' },
      remember: { type: 'boolean', description: 'Made with "keep me logged in".' },
    },
    required: [
      'id',
      'browser',
      'system',
      'address',
      'created_at',
      'expires_at',
      'current',
      'remember',
    ],
    additionalProperties: false,
  },
  Sessions: {
    type: 'object',
    properties: {
      sessions: {
        type: 'array',
        items: ref('Session'),
        description: 'Newest first; at most 50 (older ones stay valid until they end).',
      },
    },
    required: ['sessions'],
    additionalProperties: false,
  },
  Token: {
    type: 'object',
    properties: { token: string('The session token, for `Authorization: Bearer`.') },
    required: ['token'],
    additionalProperties: false,
  },
  Credentials: {
    type: 'object',
    properties: {
      username: username(RULES.username),
      password: string(
        'The password. Absent is the empty password: refused (401) like any wrong one.',
      ),
      remember: {
        type: ['boolean', 'null'],
        description:
          '"Keep me logged in". Absent, null or false: the session lasts SESSION_TTL_S (a day ' +
          'by default) and its cookie has no Max-Age (gone when the browser session ends). ' +
          'True: the session lasts SESSION_REMEMBER_TTL_S (30 days by default) and so does ' +
          'the cookie. A cookie is renewed for a whole lifetime as it is used (see GET ' +
          '/api/v1/me); a bearer token is not.',
        examples: [true],
      },
      otp: {
        ...string(
          'For an account with two-step login: the 6-digit code of the authenticator app, or ' +
            'one of the recovery codes (`abcd-efgh-ijkl-mnop`, any case, hyphens optional). ' +
            'Looked at only after a correct password; ignored for an account without it.',
        ),
        writeOnly: true,
      },
    },
    required: ['username'],
    additionalProperties: false,
  },
  TotpSecret: {
    type: 'object',
    properties: {
      secret: {
        type: 'string',
        pattern: '^[A-Z2-7]{32}$',
        description: 'The secret in base32 (RFC 4648, unpadded): 160 bits.',
      },
      otpauth_url: string(
        'The `otpauth://totp/...` key URI authenticator apps read from a QR code.',
      ),
    },
    required: ['secret', 'otpauth_url'],
    additionalProperties: false,
  },
  TotpConfirmation: {
    type: 'object',
    properties: {
      code: string('The 6-digit code the app shows now for the pending secret.'),
      password: {
        ...string(
          'The password; wrong: 401 (field `password`), counted like a failed login against ' +
            'this session.',
        ),
        writeOnly: true,
      },
    },
    required: ['code', 'password'],
    additionalProperties: false,
  },
  RecoveryCodes: {
    type: 'object',
    properties: {
      recovery_codes: {
        type: 'array',
        description: 'Ten single-use codes, shown this once.',
        items: { type: 'string', pattern: '^[a-z2-7]{4}(-[a-z2-7]{4}){3}$' },
        minItems: 10,
        maxItems: 10,
      },
    },
    required: ['recovery_codes'],
    additionalProperties: false,
  },
  TotpDisabling: {
    type: 'object',
    properties: {
      password: {
        ...string('The password; wrong: 401 (field `password`), counted like a failed login.'),
        writeOnly: true,
      },
      code: {
        ...string(
          'A code of the app, or a recovery code; wrong or used: 401 (field `code`), counted ' +
            'like a failed login; empty: 401 `OTP_REQUIRED`, counting nothing.',
        ),
        writeOnly: true,
      },
    },
    required: ['password', 'code'],
    additionalProperties: false,
  },
  NewUser: {
    type: 'object',
    properties: {
      username: username(RULES.username),
      password: { ...string(RULES.password), writeOnly: true },
      nickname: string(`${RULES.nickname} Absent or empty: the username.`),
    },
    required: ['username', 'password'],
    additionalProperties: false,
  },
  NewAdminUser: {
    type: 'object',
    description: 'Unknown fields are refused (400).',
    properties: {
      username: username(RULES.username),
      password: { ...string(RULES.password), writeOnly: true },
      nickname: string(`${RULES.nickname} Absent or empty: the username.`),
    },
    required: ['username', 'password'],
    additionalProperties: false,
  },
  UserChanges: {
    type: 'object',
    description:
      'The fields to change; absent ones stay as they are. Unknown fields are refused (400).',
    properties: {
      nickname: string(RULES.nickname),
      password: {
        ...string(`${RULES.password} Ends every session of the user.`),
        writeOnly: true,
      },
      username: string(
        'Usernames cannot be changed: when sent, it must be exactly the current one (else 400).',
      ),
      two_step: {
        type: 'boolean',
        description:
          'Only `false` (else 400): turns two-step login off, for a user who lost their ' +
          'authenticator and their recovery codes. Their sessions stay; the password is ' +
          "still needed to log in. Turning it on is the user's own act, from their profile.",
      },
    },
    additionalProperties: false,
  },
  PasswordChange: {
    type: 'object',
    properties: {
      current_password: {
        ...string('The password now; wrong: 401, counted like a failed login.'),
        writeOnly: true,
      },
      new_password: { ...string(RULES.password), writeOnly: true },
      code: {
        ...string(TWO_STEP_CODE),
        writeOnly: true,
      },
    },
    required: ['current_password', 'new_password'],
    additionalProperties: false,
  },
  AccountDeletion: {
    type: 'object',
    properties: {
      password: {
        ...string('The password, to confirm; wrong: 401, counted like a failed login.'),
        writeOnly: true,
      },
      code: {
        ...string(TWO_STEP_CODE),
        writeOnly: true,
      },
    },
    required: ['password'],
    additionalProperties: false,
  },
  NicknameChange: {
    type: 'object',
    properties: { nickname: string(RULES.nickname) },
    required: ['nickname'],
    additionalProperties: false,
  },
};

const error = (description: string, headers?: HeadersObject): ResponseObject => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref('Error') } },
});

const retryAfter = {
  'Retry-After': {
    description: 'Seconds after which a retry may succeed.',
    schema: { type: 'integer', minimum: 1 } satisfies Schema,
  },
};

const responses: Record<string, ResponseObject> = {
  BadRequest: error('The request is malformed or a value breaks a rule (`field` names it).'),
  Unauthenticated: error(
    'No valid credentials; at a login of an account with two-step login and a correct ' +
      'password, `OTP_REQUIRED`: a code is needed (none, wrong, or already used); at a ' +
      'password change or an account deletion of such an account, `OTP_REQUIRED` when no ' +
      'code came, and `field` `code` when it was wrong.',
  ),
  TotpOn: error('Two-step login is already on: turn it off first.'),
  TotpOff: error('Two-step login is not on.'),
  TotpNotStarted: error('No secret is being set up: start again (POST /api/v1/me/totp).'),
  AdminUnauthenticated: error(
    'The admin token is missing or wrong. Checked before anything else: nothing was done.',
  ),
  CrossSite: error('A browser sent this state-changing request from another site (CSRF).'),
  AdminNotFound: error(
    'No such user; or the admin API is off (no ADMIN_TOKEN configured), which answers every ' +
      '/users request with `no such route`, as for a route that does not exist.',
  ),
  Conflict: error('The username is taken (regardless of case).'),
  PayloadTooLarge: error('The body is over HTTP_MAX_JSON_BYTES.'),
  UnsupportedMedia: error('The body is not sent as application/json.'),
  PictureTooLarge: error('The upload is over HTTP_MAX_UPLOAD_BYTES (counted while it is read).'),
  NotAPicture: error('The upload is not a JPEG, PNG, WebP or GIF image.'),
  NoSuchPicture: error('No picture has this name.'),
  NoSuchSession: error('None of the live sessions of the user has this id.'),
  TooManyRequests: error(
    'A limit was reached (attempts of this account or address, password hashes at once, uploads, two-step set-up); try again after Retry-After.',
    retryAfter,
  ),
  TooManySessionCalls: error(
    'Too many listings or endings of sessions by this user (a burst of 30, then 30 a ' +
      'minute); try again later.',
    retryAfter,
  ),
  Unavailable: error('The service is overloaded or a dependency is down.', retryAfter),
  DeadlineExceeded: error('The answer did not come in time.'),
  Internal: error('A bug; the details are in the server log.'),
};

export const components = {
  schemas,
  responses,
  parameters: {
    UserId: {
      name: 'id',
      in: 'path',
      required: true,
      description: 'The user id (a decimal). Anything that is not one is answered 404.',
      schema: { type: 'string', pattern: '^[0-9]{1,20}$' },
    },
    SessionId: {
      name: 'id',
      in: 'path',
      required: true,
      description: 'The `id` of a session from GET /api/v1/me/sessions.',
      schema: { type: 'string' },
    },
  },
  securitySchemes: {
    adminToken: {
      type: 'http',
      scheme: 'bearer',
      description: 'The ADMIN_TOKEN the TCP server is configured with.',
    },
    sessionBearer: {
      type: 'http',
      scheme: 'bearer',
      description: 'A session token from POST /open_api/v1/authenticate.',
    },
    sessionCookie: {
      type: 'apiKey',
      in: 'cookie',
      name: 'session',
      description:
        'The session cookie set at login (`__Host-session` over HTTPS). Requests that change ' +
        'something are refused (403) when a browser sends them from another site.',
    },
  },
} satisfies ComponentsObject;
