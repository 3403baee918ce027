import { describe, expect, it } from 'bun:test';
import type { Pool } from 'mysql2/promise';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { MysqlExecutor } from './executor.ts';

/** A pool whose statements hang while `hung`, and answer [] otherwise. */
function fakePool() {
  const state = { hung: true, executed: 0 };
  const connection = {
    connection: {},
    async execute() {
      state.executed++;
      if (state.hung) await new Promise(() => {});
      return [[], []];
    },
    async query() {
      return [[], []];
    },
    release() {},
    destroy() {},
  };
  const pool = { getConnection: async () => connection, end: async () => {} };
  return { pool: pool as unknown as Pool, state };
}

/** What `promise` rejected with, and how long it took. */
async function refusal(promise: Promise<unknown>): Promise<{ err: RpcError; ms: number }> {
  const started = performance.now();
  const err = await promise.then(
    () => new RpcError(Status.OK, 'expected a refusal'),
    (e: RpcError) => e,
  );
  return { err, ms: performance.now() - started };
}

describe('unit: MysqlExecutor', () => {
  it('should refuse at once for breakMs after two statements timed out, then try again', async () => {
    const { pool, state } = fakePool();
    const db = new MysqlExecutor(pool, {
      poolSize: 4,
      queueLimit: 4,
      queueTimeoutMs: 1000,
      queryTimeoutMs: 50,
      breakMs: 300,
    });
    const first = await refusal(db.rows('SELECT 1', []));
    expect([first.err.code, first.err.message]).toEqual([
      Status.UNAVAILABLE,
      MESSAGES.DATABASE_UNAVAILABLE,
    ]);
    expect(first.ms).toBeGreaterThanOrEqual(45);
    // One slow statement fails alone: the next one is tried.
    const second = await refusal(db.rows('SELECT 1', []));
    expect(second.ms).toBeGreaterThanOrEqual(45);
    // Open: refused without a statement, in no time.
    const executed = state.executed;
    const fast = await refusal(db.rows('SELECT 1', []));
    expect([fast.err.code, fast.err.retryAfterS, state.executed]).toEqual([
      Status.UNAVAILABLE,
      1,
      executed,
    ]);
    expect(fast.ms).toBeLessThan(20);
    // Past breakMs, statements go through again.
    await Bun.sleep(320);
    state.hung = false;
    expect(await db.rows('SELECT 1', [])).toEqual([]);
    expect(state.executed).toBe(executed + 1);
  });
});
