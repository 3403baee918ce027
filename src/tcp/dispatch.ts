import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Request, type Response, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import type { Deadline } from '../lib/deadline.ts';
import { Sampler } from '../lib/sampler.ts';
import type { Logger } from '../log.ts';
import type { CallName, CallRequest, CallResultInit } from '../wire/calls.ts';
import { hotResponse } from '../wire/codec.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

/** What a handler knows about the call it serves. */
export interface CallContext {
  requestId: string;
  clientIp: string;
  /** When nobody waits for the answer any more: passed, or cancelled by the caller. */
  deadline: Deadline;
}

type Handler<K extends CallName> = (
  request: CallRequest<K>,
  context: CallContext,
) => Promise<CallResultInit<K>> | CallResultInit<K>;

/** The services behind the TCP server, by call. A missing one answers UNIMPLEMENTED. */
export type Handlers = { [K in CallName]?: Handler<K> };

/**
 * Answers a request; resolves to null when nobody reads the answer: its
 * deadline passed before work began, or its caller cancelled it.
 */
export type Dispatch = (request: Request, context: CallContext) => Promise<Response | null>;

/** Told the outcome and duration of every call served (metrics). */
export type DispatchObserver = (call: string, status: Status, seconds: number) => void;

/**
 * Calls answered UNAVAILABLE are logged at most UNAVAILABLE_BURST per
 * UNAVAILABLE_WINDOW_MS, then one count of those left out, with the next
 * line or at the window's end: an outage under load wrote a line per call
 * (an operator's audit: 6 MB in 5 s while MariaDB was down), and the first
 * lines say what all the rest would. One count for every message, so that
 * no message can grow the sampler.
 */
const UNAVAILABLE_WINDOW_MS = 10_000;
const UNAVAILABLE_BURST = 5;
/**
 * Calls that failed for a reason nobody foresaw are logged with their stack, at most
 * this many per UNAVAILABLE_WINDOW_MS, then one count: each is a bug or a state to
 * act on, and the first say what the rest would; a failure audit saw a line per call.
 */
const FAILED_BURST = 20;

export function createDispatch(
  handlers: Handlers,
  log: Logger,
  observe?: DispatchObserver,
): Dispatch {
  const debug = log.isLevelEnabled('debug');
  const unavailable = new Sampler(UNAVAILABLE_WINDOW_MS, UNAVAILABLE_BURST, (_, leftOut) =>
    log.warn({ unavailableSinceLastLine: leftOut }, 'call unavailable'),
  );
  const failed = new Sampler(UNAVAILABLE_WINDOW_MS, FAILED_BURST, (_, leftOut) =>
    log.error({ failedSinceLastLine: leftOut }, 'call failed'),
  );
  return async (request, context) => {
    const { case: name, value } = request.call;
    const started = performance.now();
    let status: Status = Status.OK;
    try {
      if (name === undefined) throw new RpcError(Status.UNIMPLEMENTED, 'unknown call');
      const handler = handlers[name] as Handler<typeof name> | undefined;
      if (handler === undefined)
        throw new RpcError(Status.UNIMPLEMENTED, `call ${name} is not implemented`);
      // Nobody waits for the answer any more: skip the work.
      if (context.deadline.cancelled) throw RpcError.cancelled();
      if (context.deadline.expired()) return null;
      const result = await handler(value as CallRequest<typeof name>, context);
      // The hot answers are built by hand (codec.ts), the others by protobuf-es.
      const hot = hotResponse(request.id, Status.OK, name, result);
      if (hot !== null) return hot;
      return create(ResponseSchema, {
        id: request.id,
        status: Status.OK,
        result: { case: name, value: result } as MessageInitShape<typeof ResponseSchema>['result'],
      });
    } catch (reason) {
      const error = RpcError.from(reason);
      status = error.code;
      // Not a failure: the caller left. Counted by status, never logged as an error.
      if (error.code === Status.CANCELLED) return null;
      if (error.code === Status.INTERNAL) {
        const leftOut = failed.pass('failed');
        if (leftOut !== null)
          log.error(
            {
              err: reason,
              call: name,
              requestId: context.requestId,
              failedSinceLastLine: leftOut > 0 ? leftOut : undefined,
            },
            'call failed',
          );
      } else if (error.code === Status.UNAVAILABLE) {
        const leftOut = unavailable.pass('unavailable');
        if (leftOut !== null)
          log.warn(
            {
              err: error.cause ?? error.message,
              call: name,
              requestId: context.requestId,
              unavailableSinceLastLine: leftOut > 0 ? leftOut : undefined,
            },
            'call unavailable',
          );
      }
      return errorResponse(request.id, error);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      observe?.(name ?? 'unknown', status, seconds);
      if (debug)
        log.debug(
          { requestId: context.requestId, call: name, status: Status[status], ms: seconds * 1000 },
          'call',
        );
    }
  };
}

export function errorResponse(id: number, error: RpcError): Response {
  return create(ResponseSchema, {
    id,
    status: error.code,
    message: error.message,
    field: error.field,
    moreFields: error.moreFields.map((fault) => ({ ...fault })),
    retryAfterS: error.retryAfterS,
  });
}
