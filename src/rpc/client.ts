import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { RequestSchema, type Response } from '../gen/usermgr/v1/rpc_pb.ts';
import type { CallInput, CallName, CallResult } from '../wire/calls.ts';
import { hotRequest } from '../wire/codec.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status, statusName } from '../wire/status.ts';
import type { Pool } from './pool.ts';

export interface CallOptions {
  /** How long to wait for the answer; the default comes from the client's config. */
  timeoutMs?: number;
  requestId?: string;
  clientIp?: string;
  /**
   * The caller's own cancellation (for the HTTP server: the request's, which
   * aborts when its client hangs up). The call then fails with CANCELLED at
   * once, and the TCP server drops the work if it has not started it.
   */
  signal?: AbortSignal;
  /**
   * The call's natural key, the user it is about (a lowercased username):
   * calls with one key go to one TCP server, so that its credential memo
   * and single flights serve them (affinity.ts). Absent: the least-loaded server.
   */
  key?: string;
}

/** The typed RPC surface the HTTP server depends on (and fakes in unit tests). */
export interface RpcClient {
  call<K extends CallName>(
    name: K,
    input: CallInput<K>,
    options?: CallOptions,
  ): Promise<CallResult<K>>;
}

/**
 * Calls that may be sent again when the socket carrying them is lost: doing
 * them twice leaves the same state as doing them once. Not register or
 * admin create (a second attempt would answer "taken" for what succeeded),
 * not admin delete (it would answer "not found").
 */
const IDEMPOTENT_CALLS: ReadonlySet<CallName> = new Set<CallName>([
  'ping',
  'login',
  'getProfile',
  'getTotp',
  'updateNickname',
  'logout',
  'logoutAll',
  'setPicture',
  'removePicture',
  'getPicture',
  'adminGetUser',
  'adminUpdateUser',
  'adminListUsers',
  'adminCheck',
]);

/** A typed client over a pool: non-OK responses become RpcError. */
export function createRpcClient(
  pool: Pick<Pool, 'send'>,
  defaultTimeoutMs: number,
  observe: (call: CallName, status: string, seconds: number) => void = () => {},
): RpcClient {
  return {
    async call(name, input, options = {}) {
      const started = performance.now();
      const requestId = options.requestId ?? '';
      const clientIp = options.clientIp ?? '';
      // The hot calls are built by hand (codec.ts), the others by protobuf-es.
      const request =
        hotRequest(name, input, requestId, clientIp) ??
        create(RequestSchema, {
          requestId,
          clientIp,
          call: { case: name, value: input } as MessageInitShape<typeof RequestSchema>['call'],
        });
      let status = 'OK';
      try {
        const response = await pool.send(
          request,
          options.timeoutMs ?? defaultTimeoutMs,
          IDEMPOTENT_CALLS.has(name),
          options.signal,
          options.key,
        );
        return unwrap(name, response);
      } catch (err) {
        status = err instanceof RpcError ? statusName(err.code) : 'INTERNAL';
        throw err;
      } finally {
        observe(name, status, (performance.now() - started) / 1000);
      }
    },
  };
}

/** The result of a response, or its status as an RpcError. */
function unwrap<K extends CallName>(name: K, response: Response): CallResult<K> {
  if (response.status !== Status.OK) {
    throw new RpcError(response.status, response.message || 'request failed', {
      field: response.field,
      moreFields: response.moreFields.map(({ field, message }) => ({ field, message })),
      retryAfterS: response.retryAfterS,
    });
  }
  if (response.result.case !== name) {
    throw new RpcError(
      Status.INTERNAL,
      `the TCP server answered ${name} with ${response.result.case}`,
    );
  }
  return response.result.value as CallResult<K>;
}
