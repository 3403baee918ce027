/**
 * Version-guarded nickname updates, many users' in one statement: a group
 * commit. Per statement and commit MariaDB spent 100-140 us of CPU and the
 * client 50-140 us, against 17-21 and 9-16 us per row in 8-row statements
 * (bench/RESULTS.md), so a lone update costs what a batch of them does.
 *
 * Invariants:
 * - an update waits at most for the batches in flight (at most `maxInFlight`)
 *   and the end of the current event-loop turn: the first update of a quiet
 *   moment goes out at once, updates arriving while batches run go together;
 * - and never longer than the executor's queue timeout: an update that
 *   waited longer when a batch could go is refused (503 "database busy"), as
 *   the executor refuses one that waits for a connection, and what it waited
 *   here counts against that timeout when its batch waits for a connection
 *   (the two waits and the statement timeout made 5 s). Batches in flight
 *   on a server that hung end only at their statement timeout (3 s), and the
 *   updates queued behind them went to the same server in the next batch:
 *   3 s more, and the HTTP server's 504 (a fault run, MariaDB paused);
 * - a statement carries each user id at most once and changes exactly the
 *   rows whose version is still the one seen, in primary-key order (so two
 *   servers' batches lock their common rows in the same order, no deadlock);
 * - when every row matched, each update's new row is its `seen` plus the
 *   change; when some did not (written meanwhile), the statement's rows are
 *   read back: a row one version past the one seen, with this nickname and
 *   time, is this update's (answered as read, so exact whoever wrote it);
 *   every other update is made again unguarded and read back (last writer
 *   wins);
 * - a failed statement fails every update in it.
 */
import type { ExecuteValues } from 'mysql2/promise';
import type { UserRow } from '../port.ts';
import { databaseBusy, type MysqlExecutor } from './executor.ts';
import { idParam, type MysqlUser, msParam, toUserRow, USER_COLUMNS, versionParam } from './rows.ts';

/** Updates per statement, largest first: each connection prepares at most these few statements. */
const CHUNKS = [64, 16, 4, 1];

export interface NicknameUpdate {
  key: bigint;
  nickname: string;
  nowMs: number;
  seen: UserRow;
}

interface Queued extends NicknameUpdate {
  resolve: (row: UserRow | null) => void;
  reject: (error: unknown) => void;
  /** performance.now() when it was queued. */
  queuedAt: number;
}

/** What to do for one update whose batch did not all match: the unguarded write and read back. */
export type Fallback = (update: NicknameUpdate) => Promise<UserRow | null>;

function statement(size: number): string {
  const cases = ' WHEN ? THEN ?'.repeat(size);
  const ids = Array.from({ length: size }, () => '?').join(', ');
  return (
    `UPDATE users SET nickname = CASE id${cases} END, updated_at = CASE id${cases} END, ` +
    `version = version + 1 WHERE id IN (${ids}) AND version = CASE id${cases} END`
  );
}

const STATEMENTS = new Map(CHUNKS.map((size) => [size, statement(size)]));

export class NicknameBatcher {
  private queue: Queued[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly db: MysqlExecutor,
    private readonly fallback: Fallback,
    private readonly maxInFlight = 4,
  ) {}

  update(update: NicknameUpdate): Promise<UserRow | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...update, resolve, reject, queuedAt: performance.now() });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    this.refuseStale();
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.take();
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  /** Refuses the updates that waited longer than the executor's queue timeout (see the top). */
  private refuseStale(): void {
    const oldest = performance.now() - this.db.queueTimeoutMs;
    if (this.queue.length === 0 || (this.queue[0] as Queued).queuedAt >= oldest) return;
    const kept: Queued[] = [];
    for (const item of this.queue) {
      if (item.queuedAt < oldest) item.reject(databaseBusy());
      else kept.push(item);
    }
    this.queue = kept;
  }

  /** The next statement's updates: distinct ids, the size of a chunk; the rest stays queued. */
  private take(): Queued[] {
    const size = CHUNKS.find((chunk) => chunk <= this.queue.length) ?? 1;
    const ids = new Set<bigint>();
    const batch: Queued[] = [];
    const rest: Queued[] = [];
    for (const item of this.queue) {
      if (batch.length < size && !ids.has(item.key)) {
        ids.add(item.key);
        batch.push(item);
      } else rest.push(item);
    }
    this.queue = rest;
    return batch;
  }

  private async run(batch: Queued[]): Promise<void> {
    const sql = STATEMENTS.get(batch.length) ?? statement(batch.length);
    const params: ExecuteValues[] = [];
    for (const u of batch) params.push(idParam(u.key), u.nickname);
    for (const u of batch) params.push(idParam(u.key), msParam(u.nowMs));
    for (const u of batch) params.push(idParam(u.key));
    for (const u of batch) params.push(idParam(u.key), versionParam(u.seen.version));
    let matched: number;
    try {
      // The oldest update's wait counts against the executor's queue timeout (see the top).
      const since = (batch[0] as Queued).queuedAt;
      ({ affectedRows: matched } = await this.db.exec(sql, params, since));
    } catch (error) {
      for (const u of batch) u.reject(error);
      return;
    }
    if (matched === batch.length) {
      for (const u of batch)
        u.resolve({
          ...u.seen,
          nickname: u.nickname,
          updatedAtMs: u.nowMs,
          version: u.seen.version + 1,
        });
      return;
    }
    let rows: Map<string, UserRow>;
    try {
      rows = await this.readBack(batch);
    } catch {
      rows = new Map();
    }
    await Promise.all(
      batch.map((u) => {
        const row = rows.get(u.seen.id);
        if (
          row !== undefined &&
          row.version === u.seen.version + 1 &&
          row.nickname === u.nickname &&
          row.updatedAtMs === u.nowMs
        ) {
          u.resolve(row);
          return undefined;
        }
        return this.fallback(u).then(u.resolve, u.reject);
      }),
    );
  }

  private async readBack(batch: readonly Queued[]): Promise<Map<string, UserRow>> {
    const ids = batch.map(() => '?').join(', ');
    const found = await this.db.rows<MysqlUser>(
      `SELECT ${USER_COLUMNS} FROM users WHERE id IN (${ids})`,
      batch.map((u) => idParam(u.key)),
    );
    return new Map(found.map((row) => [String(row.id), toUserRow(row)]));
  }
}
