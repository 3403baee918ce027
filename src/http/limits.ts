/**
 * Generous bounds for the strings of a request, checked while it is read so
 * that absurd input never goes on the wire; the TCP server then checks the
 * exact rules (core/validation.ts).
 */
export const MAX_USERNAME_CHARS = 64;
export const MAX_PASSWORD_CHARS = 1024;
export const MAX_NICKNAME_CHARS = 1024;
/** Anti-CSRF tokens of forms are far shorter; longer is refused as malformed. */
export const MAX_CSRF_CHARS = 200;
/** What is sent of a User-Agent (for the list of sessions); the rest is cut, not refused. */
export const MAX_USER_AGENT_CHARS = 512;
/** Session handles (22 characters); longer is refused as malformed. */
export const MAX_SESSION_ID_CHARS = 64;
/** A one-time code is 6 digits, a recovery code 19 characters; longer is refused as malformed. */
export const MAX_OTP_CHARS = 64;

/**
 * The most of any request body Bun reads before answering 413 by itself (an
 * empty answer, which a browser shows as its own error page). Far above every
 * route's own limit, which refuses a body from its Content-Length, unread,
 * with the route's own answer: a 10 MB phone photo on the profile page gets
 * "the picture is larger than 5 MiB" there, not the browser's error page.
 */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024;
