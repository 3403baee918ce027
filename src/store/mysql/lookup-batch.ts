/**
 * Point reads by one unique column, many keys in one statement: the lookups
 * begun in one event-loop turn go out together at its end, as
 * `SELECT … WHERE <column> IN (…)`. A lone read cost the client about 30 µs
 * (a permit, a pooled connection, a timer, a write and a read of the socket,
 * a dozen column definitions parsed) and MariaDB about as much again, and a
 * read of 16 rows costs little more (bench/RESULTS.md, "User lookups of one
 * turn in one statement").
 *
 * Invariants:
 * - a lookup waits for nothing but the end of the turn it began in; each
 *   statement then goes through the executor like any other (its cap, queue
 *   bound and timeouts), so a busy or failing database is refused or failed
 *   as fast as before;
 * - a statement asks for each key once however many lookups of it wait, and
 *   each lookup gets the row its key matches (`keyOf` must fold a row's
 *   value as the column's collation does), or null;
 * - statements have the sizes of CHUNKS only (so a connection prepares at
 *   most four of each kind): a batch goes out in chunks of 64, and its last
 *   chunk is padded with its own first key up to the next size (MariaDB
 *   merges equal values of an IN list, so padding reads nothing twice);
 * - a failed statement fails every lookup in it, and only those.
 */
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import type { MysqlExecutor } from './executor.ts';

/** Keys per statement. */
const CHUNKS = [1, 4, 16, 64] as const;
const LARGEST = CHUNKS[CHUNKS.length - 1] as number;

export interface LookupKind<T extends RowDataPacket> {
  /** The statement for `size` keys (called once per size); keys travel as strings. */
  statement(size: number): string;
  /** The key a row answers: the column's value folded as the lookup's keys are. */
  keyOf(row: T): string;
}

interface Waiting<T> {
  resolve: (row: T | null) => void;
  reject: (error: unknown) => void;
}

export class LookupBatcher<T extends RowDataPacket> {
  private readonly statements: Map<number, string>;
  /** Keys asked for in this turn, each with everyone waiting for it. */
  private queue = new Map<string, Waiting<T>[]>();

  constructor(
    private readonly db: Pick<MysqlExecutor, 'rows'>,
    private readonly kind: LookupKind<T>,
  ) {
    this.statements = new Map(CHUNKS.map((size) => [size, kind.statement(size)]));
  }

  /** The row whose key is `key` (already folded), or null. */
  find(key: string): Promise<T | null> {
    return new Promise((resolve, reject) => {
      const waiting = this.queue.get(key);
      if (waiting !== undefined) {
        waiting.push({ resolve, reject });
        return;
      }
      if (this.queue.size === 0) setImmediate(() => this.flush());
      this.queue.set(key, [{ resolve, reject }]);
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = new Map();
    const keys = [...batch.keys()];
    for (let at = 0; at < keys.length; at += LARGEST) {
      this.read(keys.slice(at, at + LARGEST), batch);
    }
  }

  private async read(keys: string[], batch: Map<string, Waiting<T>[]>): Promise<void> {
    const size = CHUNKS.find((chunk) => chunk >= keys.length) ?? LARGEST;
    const params: ExecuteValues[] = [];
    for (let i = 0; i < size; i++) params.push(keys[i] ?? (keys[0] as string));
    // Everything in the try: flush() does not await this, so nothing may escape it.
    try {
      const rows = await this.db.rows<T>(this.statements.get(size) as string, params);
      const found = new Map<string, T>();
      for (const row of rows) found.set(this.kind.keyOf(row), row);
      for (const key of keys) {
        const row = found.get(key) ?? null;
        for (const w of batch.get(key) ?? []) w.resolve(row);
      }
    } catch (error) {
      for (const key of keys) for (const w of batch.get(key) ?? []) w.reject(error);
    }
  }
}
