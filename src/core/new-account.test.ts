import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { Deadline } from '../lib/deadline.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { disposeServices, services } from './accounts-fixture.ts';
import { IdGenerator } from './ids.ts';
import { createAccount } from './new-account.ts';

afterEach(disposeServices);

describe('unit: createAccount', () => {
  it('should take a fresh id when another server made the same one, and say why in the log', async () => {
    const { accounts, store, users, passwords, clock } = await services();
    const first = await accounts.register(
      { username: 'first', password: 'correct horse', nickname: '' },
      Deadline.after(10_000),
    );
    // Another TCP server with the same WORKER_ID: its next id is the one just used.
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const twin = new IdGenerator(1, () => clock.now);
    const second = await createAccount(
      { store, users, passwords, ids: twin, log },
      { username: 'second', password: 'correct horse', nickname: '' },
      Deadline.after(10_000),
      () => clock.now,
      { clientIp: '', known: false },
    );
    expect(second.id).not.toBe(first.id);
    expect((await store.findById(second.id))?.username).toBe('second');
    expect((await store.findById(first.id))?.username).toBe('first');
    const warned = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(warned.map((l) => [l.level, l.msg])).toEqual([
      [
        40,
        'a new user id was taken already: another TCP server uses the same WORKER_ID; give each its own',
      ],
    ]);
  });

  /** The error a sign-up of `input` is refused with (an RpcError, or the test fails). */
  async function refusal(
    { store, users, passwords, clock }: Awaited<ReturnType<typeof services>>,
    input: { username: string; password: string; nickname: string },
    admit?: () => Promise<void>,
  ) {
    const log = pino({ level: 'silent' });
    const ids = new IdGenerator(7, () => clock.now);
    const err = await createAccount(
      { store, users, passwords, ids, log },
      input,
      Deadline.after(10_000),
      () => clock.now,
      { clientIp: '', known: false },
      admit,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${String(err)}`);
    return {
      code: err.code,
      fields: [err.field, ...err.moreFields.map((f) => f.field)],
      messages: [err.message, ...err.moreFields.map((f) => f.message)],
    };
  }

  it('should name every field at fault at once, a taken username among them, in the order of the form', async () => {
    const deps = await services();
    await deps.accounts.register(
      { username: 'taken', password: 'correct horse', nickname: '' },
      Deadline.after(10_000),
    );
    const both = await refusal(deps, { username: 'taken', password: 'password', nickname: '' });
    expect(both.code).toBe(Status.INVALID_ARGUMENT);
    expect(both.fields).toEqual(['username', 'password']);
    expect(both.messages[0]).toBe('this username is already taken');
    expect(both.messages[1]).toContain('guess');

    const three = await refusal(deps, {
      username: 'no spaces',
      password: 'short',
      nickname: '\u202e',
    });
    expect(three.fields).toEqual(['username', 'password', 'nickname']);
    // A free name: only the rule broken.
    const free = await refusal(deps, { username: 'free', password: 'password', nickname: '' });
    expect(free.fields).toEqual(['password']);
    // Taken alone stays ALREADY_EXISTS (409 on the API).
    const taken = await refusal(deps, {
      username: 'taken',
      password: 'correct horse',
      nickname: '',
    });
    expect([taken.code, taken.fields]).toEqual([Status.ALREADY_EXISTS, ['username']]);
  });

  it("should answer the store's refusal of the lookup, after the estimate has ended, not the estimate's busy", async () => {
    const deps = await services();
    let estimateEnded = 0;
    deps.passwords.weakness = async () => {
      await Bun.sleep(30);
      estimateEnded = performance.now();
      throw new RpcError(Status.RESOURCE_EXHAUSTED, 'too many sign-ins at once');
    };
    deps.users.find = async () => {
      throw new RpcError(Status.UNAVAILABLE, 'database unavailable', { retryAfterS: 1 });
    };
    const refused = await refusal(deps, {
      username: 'free',
      password: 'a long password',
      nickname: '',
    });
    const answered = performance.now();
    expect([refused.code, refused.messages[0]]).toEqual([
      Status.UNAVAILABLE,
      'database unavailable',
    ]);
    // The estimate was not left running behind the answer.
    expect(estimateEnded).toBeGreaterThan(0);
    expect(estimateEnded).toBeLessThanOrEqual(answered);
  });

  it('should neither look the name up nor estimate the password beyond the sign-up limits', async () => {
    const deps = await services();
    await deps.accounts.register(
      { username: 'taken', password: 'correct horse', nickname: '' },
      Deadline.after(10_000),
    );
    const estimated = deps.passwords.counts.strength;
    let admitted = 0;
    const overLimits = () => {
      admitted++;
      return Promise.reject(new RpcError(Status.RESOURCE_EXHAUSTED, 'too many sign-ups'));
    };
    // The faults found without either are the answer.
    const refused = await refusal(
      deps,
      { username: 'taken', password: 'short', nickname: '' },
      overLimits,
    );
    expect([refused.code, refused.fields]).toEqual([Status.INVALID_ARGUMENT, ['password']]);
    // Regression (an attack pass): an invalid name with a crafted password was estimated
    // on the event loop, 50 to 300 ms, before any limit; a few a second stalled every login.
    const crafted = await refusal(
      deps,
      { username: 'a', password: '1234567890'.repeat(12), nickname: '' },
      overLimits,
    );
    expect([crafted.code, crafted.fields]).toEqual([Status.INVALID_ARGUMENT, ['username']]);
    // Nothing else at fault: the limit is the answer, and the weak password is not told.
    const weak = await refusal(
      deps,
      { username: 'free', password: 'password', nickname: '' },
      overLimits,
    );
    expect(weak.code).toBe(Status.RESOURCE_EXHAUSTED);
    // Both the name and the password at fault: nothing slow follows, nothing is charged.
    const both = await refusal(
      deps,
      { username: 'a', password: 'short', nickname: '' },
      overLimits,
    );
    expect([both.code, both.fields]).toEqual([Status.INVALID_ARGUMENT, ['username', 'password']]);
    expect(admitted).toBe(3);
    expect(deps.passwords.counts.strength).toBe(estimated);
  });
});
