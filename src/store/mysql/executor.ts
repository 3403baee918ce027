/**
 * The only way statements reach MySQL: a Semaphore in front of the mysql2 pool.
 *
 * Invariants:
 * - at most `poolSize` operations hold a connection, at most `queueLimit`
 *   wait for one and none waits past `queueTimeoutMs`; a refusal is
 *   UNAVAILABLE 'database busy' at once, never an unbounded queue (mysql2's
 *   own queue stays empty: the pool has exactly `poolSize` connections);
 * - every statement has a `queryTimeoutMs` timeout, including the set-up
 *   statements a new connection runs before its first use (they run here, as
 *   part of the operation, not in mysql2's 'connection' event: statements
 *   queued behind a hung one there never start their timers, and mysql2
 *   leaves commands queued on a destroyed connection unanswered);
 * - a connection that failed at the socket level or timed out is destroyed,
 *   never handed out again: a timed-out statement may still answer later and
 *   would be read as the next one's reply. mysql2 opens fresh connections on
 *   demand, so the pool heals by itself once the server is back;
 * - outages surface as RpcError UNAVAILABLE (errors.ts); every other error
 *   (ER_DUP_ENTRY included) reaches the caller untouched;
 * - a connect that ran out of time, or a second statement that did within
 *   BREAK_WINDOW_MS of another, opens a breaker for `breakMs`: operations begun
 *   meanwhile are refused at once (UNAVAILABLE 'database unavailable',
 *   Retry-After 1). Then the first operation to come starts a probe of the
 *   executor's own (`SELECT 1`, in the background) and is refused like the
 *   others until the probe ends: an answer closes the breaker, a timeout
 *   opens it again for `breakMs` (not longer each time: a server back after a
 *   long hang would be refused for nothing). One slow statement
 *   alone (a purge, a lock wait) fails alone: it must not refuse the logins of
 *   the next second (a review). Why the probe: after each break every
 *   operation went through again and waited its whole timeout on a server
 *   still hung, so about a quarter of the writes during a SIGSTOPped MariaDB
 *   took 2-3 s to get their 503 (an operator's audit). Why its own: with a
 *   caller's operation as the probe, the nickname updates combined with it,
 *   and those queued behind its batch, waited on the hung server up to the
 *   HTTP server's deadline (a fault test saw 504s). Why: a hung or
 *   locked server made every request wait its queue and statement timeouts
 *   (2-5 s each) for a 503, or for the caller's own deadline (a 504 blaming the TCP
 *   server), where a server that is down is refused in milliseconds (a
 *   reliability audit). The Redis adapter skips Redis for a second after a
 *   timeout too.
 */
import type {
  ExecuteValues,
  Pool,
  PoolConnection,
  ResultSetHeader,
  RowDataPacket,
} from 'mysql2/promise';
import { Deadline, withTimeout } from '../../lib/deadline.ts';
import { Semaphore } from '../../lib/semaphore.ts';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { classifyMysqlError, isConnectionBroken } from './errors.ts';

export interface ExecutorLimits {
  poolSize: number;
  queueLimit: number;
  queueTimeoutMs: number;
  queryTimeoutMs: number;
  /** How long a timeout refuses new operations at once; default BREAK_MS; 0: no breaker. */
  breakMs?: number;
}

const BREAK_MS = 1000;
/** Two statement timeouts this close together open the breaker. */
const BREAK_WINDOW_MS = 1000;

/** Statements on the one connection an operation holds. */
export interface Session {
  rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]>;
  exec(sql: string, params: ExecuteValues[]): Promise<ResultSetHeader>;
}

/** What an operation that waited its queue timeout gets (here, and in queues in front of this one). */
export function databaseBusy(): RpcError {
  return new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_BUSY, { retryAfterS: 1 });
}

function refuse(): never {
  throw databaseBusy();
}

function unavailableError(): RpcError {
  return new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_UNAVAILABLE, { retryAfterS: 1 });
}

/** What ran out of time, if anything: a statement (our timer) or a connect (the driver's). */
function timeoutOf(error: unknown): 'statement' | 'connect' | null {
  const cause = error instanceof RpcError ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  if (code === 'PROTOCOL_SEQUENCE_TIMEOUT') return 'statement';
  if (code === 'ETIMEDOUT') return 'connect';
  return null;
}

/** What a statement that ran out of time rejects with; a connection-level failure. */
function timedOut(timeoutMs: number): Error {
  return Object.assign(new Error(`statement took longer than ${timeoutMs} ms`), {
    code: 'PROTOCOL_SEQUENCE_TIMEOUT',
  });
}

class ConnectionSession implements Session {
  /** Set when the connection must be destroyed instead of released. */
  broken = false;

  constructor(
    private readonly connection: PoolConnection,
    private readonly timeoutMs: number,
  ) {}

  async rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
    return (await this.execute(sql, params)) as T[];
  }

  async exec(sql: string, params: ExecuteValues[]): Promise<ResultSetHeader> {
    return (await this.execute(sql, params)) as ResultSetHeader;
  }

  /** A statement outside the prepared-statement protocol (SET, ...). */
  async setUp(sql: string): Promise<void> {
    await this.guard(() => this.connection.query(sql));
  }

  private async execute(sql: string, params: ExecuteValues[]): Promise<unknown> {
    // execute(): a server-side prepared statement, cached per connection by
    // mysql2, so a warm query is one round trip.
    const [result] = await this.guard(() => this.connection.execute(sql, params));
    return result;
  }

  /**
   * Our own timer rather than mysql2's `timeout` option: that one starts only
   * once the EXECUTE is sent, so a server that hangs on the PREPARE of a
   * statement new to this connection would hold the connection and its
   * permit forever.
   */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(call(), this.timeoutMs, () => {
        throw timedOut(this.timeoutMs);
      });
    } catch (error) {
      if (isConnectionBroken(error)) this.broken = true;
      throw classifyMysqlError(error);
    }
  }
}

export class MysqlExecutor {
  private readonly gate: Semaphore;
  /** Connections (mysql2's, which outlive the promise wrappers) that ran `setUp`. */
  private readonly ready = new WeakSet<object>();
  /** performance.now() until which operations are refused at once (after timeouts); 0: closed. */
  private openUntil = 0;
  /** An operation is probing a server the breaker was open for. */
  private probing = false;
  /** When the last statement timed out (performance.now()); -Infinity before any. */
  private lastTimeout = Number.NEGATIVE_INFINITY;

  constructor(
    readonly pool: Pool,
    private readonly limits: ExecutorLimits,
    private readonly setUp: readonly string[] = [],
  ) {
    this.gate = new Semaphore(limits.poolSize, limits.queueLimit);
  }

  /** Operations holding a connection, and waiting for one (for metrics and tests). */
  get active(): number {
    return this.gate.active;
  }

  get waiting(): number {
    return this.gate.waiting;
  }

  /** The longest an operation waits for a connection; queues in front of this one keep it too. */
  get queueTimeoutMs(): number {
    return this.limits.queueTimeoutMs;
  }

  /**
   * Runs `task` on one connection, holding one permit for all its statements.
   * `waitingSince`: when its caller began to wait, in a queue in front of this
   * one (nickname-batch.ts): the two waits share one queue timeout.
   */
  run<T>(task: (session: Session) => Promise<T>, waitingSince?: number): Promise<T> {
    if (this.openUntil === 0) return this.attempt(task, false, waitingSince);
    if (!this.probing && performance.now() >= this.openUntil) this.probe();
    return Promise.reject(unavailableError());
  }

  /** Asks the server whether it answers again, nobody waiting on it (see the top of this file). */
  private probe(): void {
    this.probing = true;
    this.attempt((session) => session.rows('SELECT 1', []), true)
      .catch(() => {}) // a timeout reopened the breaker (breakOn); anything else: the next probe
      .finally(() => {
        this.probing = false;
      });
  }

  private attempt<T>(
    task: (session: Session) => Promise<T>,
    probe = false,
    waitingSince?: number,
  ): Promise<T> {
    const waited = waitingSince === undefined ? 0 : performance.now() - waitingSince;
    const deadline = Deadline.after(this.limits.queueTimeoutMs - waited);
    return this.gate.run(deadline, () => this.onConnection(task, probe), refuse);
  }

  rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
    return this.run((session) => session.rows<T>(sql, params));
  }

  exec(sql: string, params: ExecuteValues[], waitingSince?: number): Promise<ResultSetHeader> {
    return this.run((session) => session.exec(sql, params), waitingSince);
  }

  close(): Promise<void> {
    return this.pool.end();
  }

  /**
   * Opens the breaker for a connect timeout, or a second statement timeout,
   * and again for a probe's (see the top of this file).
   * An operation begun before the breaker opened that times out after it
   * changes nothing: it tells what the opening already said.
   */
  private breakOn(error: unknown, probe: boolean): void {
    const kind = timeoutOf(error);
    if (kind === null) return;
    const now = performance.now();
    const again = now - this.lastTimeout < BREAK_WINDOW_MS;
    if (kind === 'statement') this.lastTimeout = now;
    const base = this.limits.breakMs ?? BREAK_MS;
    if (base === 0) return; // no breaker (tests of the connections themselves)
    if (probe || (this.openUntil === 0 && (kind === 'connect' || again)))
      this.openUntil = now + base;
  }

  /** The server answered: whatever was open is closed. */
  private answered(): void {
    this.openUntil = 0;
  }

  private async onConnection<T>(
    task: (session: Session) => Promise<T>,
    probe: boolean,
  ): Promise<T> {
    let connection: PoolConnection;
    try {
      connection = await this.pool.getConnection();
    } catch (error) {
      this.breakOn(error, probe);
      throw classifyMysqlError(error);
    }
    const session = new ConnectionSession(connection, this.limits.queryTimeoutMs);
    try {
      if (!this.ready.has(connection.connection)) {
        for (const sql of this.setUp) await session.setUp(sql);
        this.ready.add(connection.connection);
      }
      const result = await task(session);
      this.answered();
      return result;
    } catch (error) {
      this.breakOn(error, probe);
      // An error of the server's own (a duplicate key, a syntax error) is an answer too.
      const outage = error instanceof RpcError && error.code === Status.UNAVAILABLE;
      if (!session.broken && !outage) this.answered();
      throw error;
    } finally {
      if (session.broken) connection.destroy();
      else connection.release();
    }
  }
}
