import { describe, expect, it } from 'bun:test';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { formFlash } from './flash.ts';
import { tryAgainIn } from './for-people.ts';

describe('unit: a refusal on a form', () => {
  it('should say how long to wait in words, rounded up to seconds, minutes or hours', () => {
    expect([1, 2, 59, 60, 61, 256, 3599, 3600, 3601].map(tryAgainIn)).toEqual([
      'try again in 1 second',
      'try again in 2 seconds',
      'try again in 59 seconds',
      'try again in 1 minute',
      'try again in 2 minutes',
      'try again in 5 minutes',
      'try again in 60 minutes',
      'try again in 1 hour',
      'try again in 2 hours',
    ]);
  });

  it('should put the wait after the message, on the field the error names', () => {
    const throttled = new RpcError(Status.RESOURCE_EXHAUSTED, 'too many picture uploads', {
      retryAfterS: 120,
    });
    expect(formFlash(throttled, {}, 'picture')).toEqual({
      fields: { picture: 'too many picture uploads: try again in 2 minutes' },
      values: {},
    });
    const wrong = new RpcError(Status.INVALID_ARGUMENT, 'nickname is too long', {
      field: 'nickname',
    });
    expect(formFlash(wrong, { nickname: 'x' })).toEqual({
      fields: { nickname: 'nickname is too long' },
      values: { nickname: 'x' },
    });
    expect(formFlash(new RpcError(Status.INTERNAL, 'boom'))).toBeNull();
  });

  // Regression (a browser audit): an outage was an error page, and what was typed was lost.
  it('should show an outage above the form in plain words, keeping what was typed', () => {
    const down = new RpcError(Status.UNAVAILABLE, 'no TCP server is reachable', {
      retryAfterS: 1,
      field: 'username',
    });
    expect(formFlash(down, { username: 'alice' }, 'nickname')).toEqual({
      error: MESSAGES.UNAVAILABLE_FOR_PEOPLE,
      values: { username: 'alice' },
    });
    expect(formFlash(new RpcError(Status.DEADLINE_EXCEEDED, 'late'), {})).toEqual({
      error: MESSAGES.UNAVAILABLE_FOR_PEOPLE,
      values: {},
    });
  });
});
