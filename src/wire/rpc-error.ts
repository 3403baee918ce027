import { MESSAGES } from './messages.ts';
import { Status } from './status.ts';

/** A field at fault and what is wrong with it. */
export interface FieldFault {
  field: string;
  message: string;
}

export interface RpcErrorOptions {
  /** The request field at fault, for INVALID_ARGUMENT, and for a wrong confirming password. */
  field?: string;
  /** For INVALID_ARGUMENT: the other fields at fault, after `field`. */
  moreFields?: readonly FieldFault[];
  /** Seconds after which a retry may succeed, for RESOURCE_EXHAUSTED and UNAVAILABLE. */
  retryAfterS?: number;
  /** The original error, kept for logs. Never sent on the wire. */
  cause?: unknown;
}

/**
 * The one error type at the RPC boundary. Its message is safe to show to the
 * end user; details for operators travel in `cause` and stay in this process.
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: Status;
  readonly field: string;
  readonly moreFields: readonly FieldFault[];
  readonly retryAfterS: number;

  constructor(code: Status, message: string, options: RpcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code === Status.OK || code === Status.UNSPECIFIED ? Status.INTERNAL : code;
    this.field = options.field ?? '';
    this.moreFields = options.moreFields ?? [];
    this.retryAfterS = options.retryAfterS ?? 0;
  }

  /**
   * Normalises anything caught into an RpcError. Errors that are not already
   * RpcErrors are bugs or outages: they become INTERNAL with a generic message,
   * and the original is kept as `cause`.
   */
  static from(reason: unknown): RpcError {
    if (reason instanceof RpcError) return reason;
    return new RpcError(Status.INTERNAL, MESSAGES.INTERNAL, { cause: reason });
  }

  /** The caller is gone (hung up, or cancelled the call): its answer would reach nobody. */
  static cancelled(): RpcError {
    return new RpcError(Status.CANCELLED, 'the caller is gone');
  }
}

/**
 * The one way to refuse input: INVALID_ARGUMENT naming the field at fault.
 * Checks that can fail return values (core/validation.ts); this turns such
 * a value into the error where a request stops.
 */
export function invalidArgument(message: string, field = ''): RpcError {
  return new RpcError(Status.INVALID_ARGUMENT, message, { field });
}
