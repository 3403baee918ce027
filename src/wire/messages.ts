/**
 * Every message an error shows to people, written once (better-auth keeps
 * its error codes the same way): both servers build their errors from
 * these, and tests compare against them. Messages name the field and the
 * rule; they never say whether an account exists.
 */
export const MESSAGES = {
  // Sessions and credentials: one message for unknown user and wrong password.
  BAD_CREDENTIALS: 'invalid username or password',
  WRONG_PASSWORD: 'the password is wrong',
  // Two-step login. Said only after a correct password.
  OTP_REQUIRED: 'enter the 6-digit code from your authenticator app, or a recovery code',
  WRONG_OTP:
    'that code is wrong or was already used (each works once): enter the next one your app shows, or a recovery code',
  SAME_PASSWORD: 'the new password is the one you have now: choose another',
  TOTP_CODES_SHOWN:
    'two-step login is on, and its recovery codes were shown once: to get new ones, turn it off and set it up again',
  TICKET_EXPIRED: 'the login took too long: enter your password again',
  // The code's page with no login waiting for a code in this browser.
  NO_LOGIN_STEP: 'no login is waiting for a code here: log in with your password first',
  TOTP_ALREADY_ON: 'two-step login is already on: turn it off first to set it up again',
  TOTP_NOT_ON: 'two-step login is not on',
  TOTP_KEY_MISSING:
    'codes from your authenticator app cannot be checked at the moment: log in with one of your recovery codes',
  TOTP_NOT_STARTED: 'two-step login is not being set up: start again',
  TWO_STEP_ONLY_OFF:
    'two_step can only be set to false (turn it off): a user turns it on from their profile',
  NOT_LOGGED_IN: 'not logged in, or the session has ended',
  NO_ADMIN_TOKEN: 'this needs the admin token: Authorization: Bearer <ADMIN_TOKEN>',
  CROSS_SITE: 'cross-site requests are not allowed',
  NO_HOST: 'a Host header is required',
  USERNAME_TAKEN: 'this username is already taken',
  // Things that are not there.
  NO_SUCH_USER: 'no such user',
  NO_SUCH_PICTURE: 'no such picture: it may have been replaced or removed',
  NO_SUCH_ROUTE: 'no such route',
  NO_SUCH_PAGE: 'there is no page at this address',
  NO_SUCH_FILE: 'no such file',
  FOREIGN_CURSOR: 'cursor is not one this API gave out',
  // Bodies.
  NOT_JSON_TYPE: 'send the body as JSON with Content-Type: application/json',
  JSON_NOT_UTF8_CHARSET:
    'JSON is read as UTF-8 only: send it in UTF-8, with Content-Type: application/json (charset=utf-8 or none)',
  NOT_FORM_TYPE: 'send the form as application/x-www-form-urlencoded or multipart/form-data',
  BODY_NOT_UTF8: 'the body is not valid UTF-8',
  BODY_NOT_JSON: 'the body is not valid JSON',
  BODY_NOT_OBJECT: 'the body must be a JSON object',
  FORM_MALFORMED: 'the form could not be read: the body is malformed',
  FORM_NOT_UTF8: 'the form is not valid UTF-8',
  FORM_TOO_LARGE: 'the form is too large',
  // The profile after a login that followed an ended session: what was typed is back.
  NICKNAME_NOT_SAVED:
    'your session had ended before your new nickname was saved: it is filled in below, save it again',
  // Outages.
  CACHE_UNAVAILABLE: 'cache unavailable',
  DATABASE_UNAVAILABLE: 'database unavailable',
  DATABASE_BUSY: 'database busy',
  UPLOADS_BUSY: 'too many pictures are being uploaded at this moment',
  FORM_FIELD_TWICE: 'the form sent a field more than once: send each once',
  UPLOAD_UNDER_WAY: 'a picture of yours is being uploaded already: wait until it is done',
  PASSWORDS_DIFFER: 'the two passwords are not the same',
  NEW_PASSWORDS_DIFFER: 'the two new passwords are not the same',
  PICTURE_STORAGE_UNAVAILABLE: 'picture storage is unavailable, try again later',
  INTERNAL: 'internal error',
  INTERNAL_ON_PAGE: 'something went wrong on our side; please try again',
  // An outage (503) or an answer too late (504), as a page or form shows it: the
  // API's message names the part that failed ("no TCP server is reachable"), which
  // tells a person nothing.
  UNAVAILABLE_FOR_PEOPLE:
    'the service is not answering on our side at the moment: please try again in a little while',
} as const;

/** Messages about one field of a request, named by the field. */
export const FIELD_MESSAGES = {
  required: (field: string) => `${field} is required`,
  notString: (field: string) => `${field} must be a string`,
  notBoolean: (field: string) => `${field} must be true or false`,
  tooLong: (field: string) => `${field} is too long`,
  notUnicode: (field: string) => `${field} must be valid Unicode text`,
  notText: (field: string) => `${field} must be text, not a file`,
  notFile: (field: string) => `${field} must be a file`,
  unknown: (field: string, known: readonly string[]) =>
    `unknown field ${JSON.stringify(field)}: the fields here are ${known.join(', ')}`,
  duplicate: (field: string) => `duplicate key ${JSON.stringify(field)}`,
} as const;

/** A pixel bound as both servers word it: "40 megapixels", "2.5 megapixels", "4096 pixels". */
export function pixelsInWords(pixels: number): string {
  if (pixels < 100_000) return `${pixels} pixels`;
  return `${Math.round(pixels / 100_000) / 10} megapixels`;
}

/** `size` as upload.ts formats it: "5 MiB". */
export function pictureTooLarge(size: string): string {
  return `the picture is larger than ${size}: choose a smaller one, or save it smaller first`;
}
