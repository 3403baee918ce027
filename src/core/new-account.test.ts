import { afterEach, describe, expect, it } from 'bun:test';
import pino from 'pino';
import { Deadline } from '../lib/deadline.ts';
import { disposeServices, services } from './accounts-fixture.ts';
import { IdGenerator } from './ids.ts';
import { createAccount, newAccount } from './new-account.ts';

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
      newAccount({ username: 'second', password: 'correct horse', nickname: '' }),
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
});
