/**
 * Type-level view of the calls in the contract, shared by both sides:
 * a call is named by its case of the Request `call` oneof, and its result has
 * the same case in the Response `result` oneof.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Request, RequestSchema, Response, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';

/** The name of a call ("login", "get_profile" as "getProfile", ...). */
export type CallName = NonNullable<Request['call']['case']>;

/** A call's request message, as the TCP server receives it. */
export type CallRequest<K extends CallName> = Extract<Request['call'], { case: K }>['value'];

/** What a caller passes: the init shape of the call's request message. */
export type CallInput<K extends CallName> = Extract<
  NonNullable<MessageInitShape<typeof RequestSchema>['call']>,
  { case: K }
>['value'];

/** A call's result message, as the caller receives it. */
export type CallResult<K extends CallName> = Extract<Response['result'], { case: K }>['value'];

/** What a handler returns: the init shape of the call's result message. */
export type CallResultInit<K extends CallName> = Extract<
  NonNullable<MessageInitShape<typeof ResponseSchema>['result']>,
  { case: K }
>['value'];
