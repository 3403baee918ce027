import { describe, expect, it } from 'bun:test';
import { RpcError } from './rpc-error.ts';
import { codeToHttpStatus, httpStatusToCode, Status, statusName } from './status.ts';

describe('unit: status mapping', () => {
  it('should map every status to its HTTP status', () => {
    const expected: Record<string, number> = {
      UNSPECIFIED: 500,
      OK: 200,
      INVALID_ARGUMENT: 400,
      UNAUTHENTICATED: 401,
      PERMISSION_DENIED: 403,
      NOT_FOUND: 404,
      ALREADY_EXISTS: 409,
      UNSUPPORTED_MEDIA: 415,
      PAYLOAD_TOO_LARGE: 413,
      RESOURCE_EXHAUSTED: 429,
      UNIMPLEMENTED: 501,
      UNAVAILABLE: 503,
      DEADLINE_EXCEEDED: 504,
      INTERNAL: 500,
      CANCELLED: 499,
      OTP_REQUIRED: 401,
    };
    const values = Object.values(Status).filter((v): v is Status => typeof v === 'number');
    expect(values.length).toBe(Object.keys(expected).length);
    for (const status of values)
      expect(codeToHttpStatus(status)).toBe(expected[statusName(status)] as number);
  });

  it('should map each HTTP status of a status back to it', () => {
    const values = Object.values(Status).filter((v): v is Status => typeof v === 'number');
    for (const status of values) {
      if (status === Status.OK || status === Status.UNSPECIFIED) continue;
      // Hono never raises it: a 401 of its own is UNAUTHENTICATED.
      if (status === Status.OTP_REQUIRED) continue;
      expect(statusName(httpStatusToCode(codeToHttpStatus(status)))).toBe(statusName(status));
    }
    expect(httpStatusToCode(400)).toBe(Status.INVALID_ARGUMENT);
    expect(httpStatusToCode(405)).toBe(Status.INVALID_ARGUMENT);
    expect(httpStatusToCode(502)).toBe(Status.INTERNAL);
  });

  it('should normalise anything thrown into an RpcError that hides its cause', () => {
    const cause = new Error('ECONNREFUSED 10.0.0.3:3306');
    const error = RpcError.from(cause);
    expect(error.code).toBe(Status.INTERNAL);
    expect(error.message).toBe('internal error');
    expect(error.cause).toBe(cause);
    const known = new RpcError(Status.NOT_FOUND, 'no such user');
    expect(RpcError.from(known)).toBe(known);
    expect(new RpcError(Status.OK, 'not an error').code).toBe(Status.INTERNAL);
  });
});
