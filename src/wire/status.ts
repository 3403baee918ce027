import { Status } from '../gen/usermgr/v1/rpc_pb.ts';

export { Status };

/**
 * The code of a 405 (a route, or an ops port, asked with a method it does not
 * take): the one error code of an HTTP body that is no RPC status, since no
 * call is made.
 */
export const METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED';

/** The wire name of a status, as sent in HTTP error bodies ("NOT_FOUND"). */
export function statusName(status: Status): string {
  return Status[status] ?? 'INTERNAL';
}

/** The HTTP status counted for a request whose client hung up before the answer. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The one place where an RPC status becomes an HTTP status. The switch is
 * exhaustive: adding a Status value without mapping it fails to compile.
 */
export function codeToHttpStatus(status: Status): number {
  switch (status) {
    case Status.OK:
      return 200;
    case Status.INVALID_ARGUMENT:
      return 400;
    case Status.UNAUTHENTICATED:
    // A correct password without the code it needs: 401 too, with its own code.
    case Status.OTP_REQUIRED:
      return 401;
    case Status.PERMISSION_DENIED:
      return 403;
    case Status.NOT_FOUND:
      return 404;
    case Status.ALREADY_EXISTS:
      return 409;
    case Status.UNSUPPORTED_MEDIA:
      return 415;
    case Status.PAYLOAD_TOO_LARGE:
      return 413;
    case Status.RESOURCE_EXHAUSTED:
      return 429;
    case Status.UNIMPLEMENTED:
      return 501;
    case Status.UNAVAILABLE:
      return 503;
    case Status.DEADLINE_EXCEEDED:
      return 504;
    // nginx's "client closed request": nobody reads this answer, but the
    // request log and metrics count it as its own class, neither a success
    // nor a server error.
    case Status.CANCELLED:
      return CLIENT_CLOSED_REQUEST;
    case Status.UNSPECIFIED:
    case Status.INTERNAL:
      return 500;
  }
}

/**
 * The inverse, for HTTP statuses raised by Hono itself or a middleware: the
 * status whose code an error body names. Statuses without their own code are
 * INVALID_ARGUMENT below 500 and INTERNAL from 500.
 */
export function httpStatusToCode(status: number): Status {
  switch (status) {
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.NOT_FOUND;
    case 409:
      return Status.ALREADY_EXISTS;
    case 413:
      return Status.PAYLOAD_TOO_LARGE;
    case 415:
      return Status.UNSUPPORTED_MEDIA;
    case 429:
      return Status.RESOURCE_EXHAUSTED;
    case CLIENT_CLOSED_REQUEST:
      return Status.CANCELLED;
    case 501:
      return Status.UNIMPLEMENTED;
    case 503:
      return Status.UNAVAILABLE;
    case 504:
      return Status.DEADLINE_EXCEEDED;
    default:
      return status >= 500 ? Status.INTERNAL : Status.INVALID_ARGUMENT;
  }
}
