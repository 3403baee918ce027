/**
 * How an error reads to a person on a page or form, rather than to a client
 * of the API: a wait in words, and plain words for an outage, whose API
 * message names the part that failed ("no TCP server is reachable").
 */
import { MESSAGES } from '../wire/messages.ts';
import type { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

/** An outage or a late answer: the person can only try again, and is told so in plain words. */
export const OUTAGE = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]);

/**
 * What a page or form says for `err`: the API's message with its wait in words, but
 * plain words for an outage, without a wait: its Retry-After (a second) is when a
 * client may try again, not when the outage ends, and "try again in 1 second" was
 * shown however long it lasted (an operator audit).
 */
export function messageForPeople(err: RpcError): string {
  if (OUTAGE.has(err.code)) return MESSAGES.UNAVAILABLE_FOR_PEOPLE;
  return `${err.message}: ${err.retryAfterS > 0 ? tryAgainIn(err.retryAfterS) : 'please try again in a moment'}`;
}

/** "try again in 4 minutes": a Retry-After in words, rounded up to what people count in. */
export function tryAgainIn(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds < 60) return `try again in ${unit(seconds, 'second')}`;
  if (seconds < 3600) return `try again in ${unit(Math.ceil(seconds / 60), 'minute')}`;
  return `try again in ${unit(Math.ceil(seconds / 3600), 'hour')}`;
}
