/**
 * Reads that tolerate lag, spread over MariaDB replicas (MYSQL_REPLICA_URLS),
 * with the primary as the fallback for every one of them.
 *
 * Which reads come here is the store's decision (store.ts): only those that
 * decide nothing about access (the admin listing). Everything that decides
 * access, or follows a write of the same user, reads the primary and never
 * passes through this class (docs/DESIGN.md, Data).
 *
 * Invariants:
 * - a replica serves a read only while it is known to hold every transaction
 *   the primary committed up to `maxLagMs` ago: its freshness comes from
 *   comparing GTID positions (primary-history.ts) and is tested at every
 *   read, not only at checks, so a replica whose checks stop answering ages
 *   out of rotation by itself;
 * - a check runs every `checkIntervalMs`, never two at once: the primary's
 *   position first, then each replica's applied position. A replica that
 *   does not answer, or fails a read with an outage, is out of rotation
 *   until a check finds it answering and fresh;
 * - a read the replica fails is answered by the primary: the caller never
 *   sees a replica's error, only the primary's;
 * - every entry into and exit from rotation is one log line and one
 *   observer call, made at the check (or the failed read) that found it.
 */
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../../log.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { MysqlExecutor } from './executor.ts';
import { parseGtidPosition } from './gtid.ts';
import { PrimaryHistory } from './primary-history.ts';

/** How the replicas' state reaches metrics; the adapter itself never imports prom-client. */
export interface ReplicaObserver {
  /** After each check: the lag in ms (Infinity when too far behind to measure; null when it did not answer). */
  checked(replica: string, lagMs: number | null): void;
  /** The replica entered (true) or left (false) rotation. */
  rotation(replica: string, inRotation: boolean): void;
  /** A read sent to the replica: answered there, or by the primary after the replica failed it. */
  read(replica: string, result: 'ok' | 'fallback'): void;
}

export const noReplicaObserver: ReplicaObserver = {
  checked: () => {},
  rotation: () => {},
  read: () => {},
};

export interface ReplicaOptions {
  /** A replica further behind than this serves nothing. */
  maxLagMs: number;
  checkIntervalMs: number;
}

/** What the set needs of an executor: MysqlExecutor, or a fake in unit tests. */
export type ReadTarget = Pick<MysqlExecutor, 'rows' | 'active' | 'waiting' | 'close'>;

interface Replica {
  /** host:port, for logs and metrics (never the URL: it may hold a password). */
  readonly name: string;
  readonly db: ReadTarget;
  /** Failed its last check, or a read since: out until a check finds it answering. */
  down: boolean;
  /** performance.now() instant as of which it holds every commit of the primary. */
  freshAsOf: number;
  /** Whether it was last reported in rotation; null before its first check. */
  reported: boolean | null;
}

const PRIMARY_POSITION = 'SELECT @@gtid_binlog_pos AS pos';
const APPLIED_POSITION = 'SELECT @@gtid_slave_pos AS pos';

async function readPosition(db: ReadTarget, sql: string) {
  const [row] = await db.rows<RowDataPacket>(sql, []);
  const text = String(row?.pos ?? '');
  const position = parseGtidPosition(text);
  if (position === null) throw new Error(`not a MariaDB GTID position: ${JSON.stringify(text)}`);
  return position;
}

function isOutage(error: unknown): boolean {
  return error instanceof RpcError && error.code === Status.UNAVAILABLE;
}

export class ReplicaSet {
  private readonly history: PrimaryHistory;
  private readonly replicas: Replica[];
  /** Where the search for the least busy replica starts: ties go round. */
  private next = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private primaryUnreadable = false;
  /** When the first check began (to tell "not known yet" from "behind"). */
  private firstCheckAt = Number.NaN;

  constructor(
    private readonly primary: ReadTarget,
    replicas: readonly { name: string; db: ReadTarget }[],
    private readonly options: ReplicaOptions,
    private readonly log: Logger,
    private readonly observer: ReplicaObserver = noReplicaObserver,
    private readonly now: () => number = () => performance.now(),
  ) {
    // Lag is measured up to four times the bound, so the gauge says by how much it was passed.
    this.history = new PrimaryHistory(4 * options.maxLagMs + 2 * options.checkIntervalMs);
    this.replicas = replicas.map(({ name, db }) => ({
      name,
      db,
      down: true,
      freshAsOf: Number.NEGATIVE_INFINITY,
      reported: null,
    }));
  }

  /** Starts the periodic checks; the first runs at once. Replicas serve nothing before it. */
  start(): void {
    this.schedule(0);
  }

  /** A read that tolerates lag: on a replica in rotation if there is one, else (or when it fails) on the primary. */
  rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
    const replica = this.pick();
    if (replica === null) return this.primary.rows<T>(sql, params);
    return this.readOn<T>(replica, sql, params);
  }

  /** Names of the replicas that would serve a read now (for tests). */
  inRotation(): string[] {
    const now = this.now();
    return this.replicas.filter((r) => this.serves(r, now)).map((r) => r.name);
  }

  /** One round of checks, as the timer runs it. */
  async check(): Promise<void> {
    const sentAt = this.now();
    if (Number.isNaN(this.firstCheckAt)) this.firstCheckAt = sentAt;
    try {
      this.history.observe(await readPosition(this.primary, PRIMARY_POSITION), sentAt);
      if (this.primaryUnreadable && !this.closed) {
        this.log.info('replica checks read the primary GTID position again');
      }
      this.primaryUnreadable = false;
    } catch (err) {
      // Without a new sample every replica's freshness ages: they leave rotation
      // once the bound passes, since nothing then says how far behind they are.
      if (!this.primaryUnreadable && !this.closed) {
        this.log.warn(
          { err },
          'replica checks cannot read the primary GTID position (@@gtid_binlog_pos, MariaDB ' +
            'only): replicas leave rotation once their lag cannot be known',
        );
      }
      this.primaryUnreadable = true;
    }
    await Promise.all(this.replicas.map((replica) => this.checkReplica(replica)));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all(this.replicas.map((replica) => replica.db.close()));
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(async () => {
      await this.check();
      this.schedule(this.options.checkIntervalMs);
    }, delayMs);
    // The checks never keep a process alive on their own.
    this.timer.unref?.();
  }

  private serves(replica: Replica, now: number): boolean {
    return !replica.down && now - replica.freshAsOf <= this.options.maxLagMs;
  }

  /** The replica in rotation with the fewest operations on it; null when none serves. */
  private pick(): Replica | null {
    const count = this.replicas.length;
    if (count === 0) return null;
    const now = this.now();
    let best: Replica | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      const replica = this.replicas[(this.next + i) % count] as Replica;
      if (!this.serves(replica, now)) continue;
      const load = replica.db.active + replica.db.waiting;
      if (load < bestLoad) {
        best = replica;
        bestLoad = load;
      }
    }
    this.next = (this.next + 1) % count;
    return best;
  }

  private async readOn<T extends RowDataPacket>(
    replica: Replica,
    sql: string,
    params: ExecuteValues[],
  ): Promise<T[]> {
    try {
      const rows = await replica.db.rows<T>(sql, params);
      this.observer.read(replica.name, 'ok');
      return rows;
    } catch (err) {
      this.observer.read(replica.name, 'fallback');
      if (isOutage(err)) {
        replica.down = true;
        this.report(replica, { err }, 'a read failed');
      } else {
        // Not the replica's health (a schema the replica has not caught up with, say).
        this.log.warn(
          { err, replica: replica.name },
          'a read failed on a replica: the primary answers it',
        );
      }
      return this.primary.rows<T>(sql, params);
    }
  }

  private async checkReplica(replica: Replica): Promise<void> {
    let err: unknown = null;
    try {
      const applied = await readPosition(replica.db, APPLIED_POSITION);
      replica.down = false;
      replica.freshAsOf = this.history.freshAsOf(applied);
    } catch (error) {
      err = error;
      replica.down = true;
      // After an outage it must prove its freshness again (a crash may lose what it applied last).
      replica.freshAsOf = Number.NEGATIVE_INFINITY;
    }
    if (this.closed) return;
    const now = this.now();
    const lagMs = replica.down ? null : Math.round(now - replica.freshAsOf);
    this.observer.checked(replica.name, lagMs);
    if (err !== null) {
      this.report(replica, { err }, 'it does not answer');
    } else if (
      replica.reported === null &&
      !this.serves(replica, now) &&
      now - this.firstCheckAt <= this.options.maxLagMs
    ) {
      // Not serving yet, but not known to lag either: the samples go back only
      // to the first check. Nothing to say until it comes in or the bound passes.
    } else {
      const lag = lagMs === Number.POSITIVE_INFINITY ? `over ${this.history.horizonMs}` : lagMs;
      this.report(replica, { lagMs: lag, maxLagMs: this.options.maxLagMs }, 'it lags too far');
    }
  }

  /** Says a change of rotation once: one log line and one observer call. */
  private report(replica: Replica, detail: Record<string, unknown>, whyOut: string): void {
    const serving = this.serves(replica, this.now());
    if (serving === replica.reported || this.closed) return;
    replica.reported = serving;
    this.observer.rotation(replica.name, serving);
    if (serving) {
      this.log.info({ replica: replica.name, ...detail }, 'mysql replica in rotation');
    } else {
      this.log.warn(
        { replica: replica.name, ...detail },
        `mysql replica out of rotation (${whyOut}): the primary serves its reads`,
      );
    }
  }
}
