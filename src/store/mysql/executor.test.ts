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
    // Past breakMs, once the executor's own probe is answered, statements go through again.
    await Bun.sleep(320);
    state.hung = false;
    await refusal(db.rows('SELECT 1', [])); // starts the probe
    await Bun.sleep(20);
    expect(await db.rows('SELECT 1', [])).toEqual([]);
    expect(state.executed).toBe(executed + 2);
  });

  // Regression (an operator's audit): after each break every operation went through
  // again and waited its whole timeout on a server still hung (about half of the
  // requests during a SIGSTOPped MariaDB took 2-3 s to get their 503).
  it('should probe a server it broke off from with a statement of its own, refusing every caller at once, and open again while probes time out', async () => {
    const { pool, state } = fakePool();
    const db = new MysqlExecutor(pool, {
      poolSize: 4,
      queueLimit: 4,
      queueTimeoutMs: 1000,
      queryTimeoutMs: 50,
      breakMs: 100,
    });
    await refusal(db.rows('SELECT 1', []));
    await refusal(db.rows('SELECT 1', [])); // two timeouts: open for 100 ms
    await Bun.sleep(120);
    const executed = state.executed;
    // Past the break: the first caller starts a probe; every caller is refused in no time.
    const three = await Promise.all([1, 2, 3].map(() => refusal(db.rows('SELECT 1', []))));
    expect(three.map((r) => r.ms < 20)).toEqual([true, true, true]);
    expect(state.executed).toBe(executed + 1);
    // The probe timed out (50 ms): open again for 100 ms, and no new probe meanwhile.
    await Bun.sleep(80);
    const still = await refusal(db.rows('SELECT 1', []));
    expect([still.ms < 20, state.executed]).toEqual([true, executed + 1]);
    // Not longer each time: a server back after a long hang is used again within breakMs.
    await Bun.sleep(100);
    // The server answers the next probe: closed, and everything goes through again.
    state.hung = false;
    const starter = await refusal(db.rows('SELECT 1', []));
    expect(starter.ms).toBeLessThan(20);
    await Bun.sleep(20);
    const after = await Promise.all([1, 2, 3].map(() => db.rows('SELECT 1', [])));
    expect(after).toEqual([[], [], []]);
    expect(state.executed).toBe(executed + 5);
  });
});
