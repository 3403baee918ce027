import { describe, expect, it } from 'bun:test';
import type { ResultSetHeader } from 'mysql2/promise';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { UserRow } from '../port.ts';
import type { MysqlExecutor } from './executor.ts';
import { NicknameBatcher } from './nickname-batch.ts';

const seen = (id: string): UserRow => ({
  id,
  username: `user${id}`,
  nickname: 'before',
  passwordHash: '',
  picture: '',
  sessionsValidAfterMs: 0,
  createdAtMs: 1,
  updatedAtMs: 1,
  totpSecret: '',
  version: 3,
});

/** An executor whose statements wait until `answer()`, each matching every row it names. */
function fakeDb(queueTimeoutMs: number) {
  const statements: number[] = [];
  const waiting: (() => void)[] = [];
  const db = {
    queueTimeoutMs,
    exec(_sql: string, params: unknown[]): Promise<ResultSetHeader> {
      const rows = params.length / 7;
      statements.push(rows);
      return new Promise((resolve) => {
        waiting.push(() => resolve({ affectedRows: rows } as ResultSetHeader));
      });
    },
  };
  const answer = () => {
    for (const next of waiting.splice(0)) next();
  };
  return { db: db as unknown as MysqlExecutor, statements, answer };
}

const update = (id: string) => ({ key: BigInt(id), nickname: `n${id}`, nowMs: 2, seen: seen(id) });

describe('unit: NicknameBatcher', () => {
  // Regression (a fault run, MariaDB paused): updates queued behind batches that hung
  // went to the same server when those timed out, 3 s more, and got the HTTP 504.
  it('should refuse an update that waited past the queue timeout behind batches in flight, and send the rest', async () => {
    const { db, statements, answer } = fakeDb(100);
    const batcher = new NicknameBatcher(db, async () => null, 1);
    const first = batcher.update(update('1'));
    await Bun.sleep(5);
    expect(statements).toEqual([1]);
    const stale = batcher.update(update('2')).catch((err: unknown) => err);
    await Bun.sleep(150);
    const fresh = batcher.update(update('3'));
    answer();
    expect((await first)?.nickname).toBe('n1');
    const refused = (await stale) as RpcError;
    expect(refused).toBeInstanceOf(RpcError);
    expect([refused.code, refused.message, refused.retryAfterS]).toEqual([
      Status.UNAVAILABLE,
      MESSAGES.DATABASE_BUSY,
      1,
    ]);
    await Bun.sleep(5);
    // Only the fresh one went to the server.
    expect(statements).toEqual([1, 1]);
    answer();
    expect((await fresh)?.nickname).toBe('n3');
  });
});
