/**
 * Writes of one key, combined: while a write of the key runs, the writes
 * that arrive for it wait together, and the next write carries only the
 * last of their values. Invariants:
 * - at most one write per key is under way, and at most one group waits
 *   behind it; a group starts as soon as the write before it settles,
 *   whether that succeeded or failed, unless `shared(error)` says the failure
 *   is the group's too: then the group gets that error at once. A store that
 *   hung failed the first write at its statement timeout (3 s), and the group
 *   behind it then waited the store again, past its callers' deadline (504s in
 *   a fault run, MariaDB paused);
 * - every caller of a group gets that group's outcome (the result of writing
 *   the group's last value, or its error), and no caller gets another
 *   group's: a value that arrived while a write ran is never taken for done
 *   by that write;
 * - the key is forgotten once nothing runs or waits for it.
 * The callers of a group are answered as if their values had been written
 * one after another, each at once replaced by the next: the last writer
 * wins, as it would with separate writes, in one write instead of many.
 */
export class Combiner<K, V, R> {
  private readonly keys = new Map<K, Waiting<V, R> | null>();

  constructor(
    private readonly write: (key: K, value: V) => Promise<R>,
    private readonly shared: (error: unknown) => boolean = () => false,
  ) {}

  run(key: K, value: V): Promise<R> {
    if (!this.keys.has(key)) {
      this.keys.set(key, null);
      return this.start(key, value);
    }
    let waiting = this.keys.get(key);
    if (waiting === null || waiting === undefined) {
      let resolve!: (result: Promise<R>) => void;
      const outcome = new Promise<R>((done) => {
        resolve = done;
      });
      waiting = { value, outcome, resolve };
      this.keys.set(key, waiting);
    } else {
      waiting.value = value;
    }
    return waiting.outcome;
  }

  /** Keys with a write under way (tests and metrics). */
  get size(): number {
    return this.keys.size;
  }

  private start(key: K, value: V): Promise<R> {
    let written: Promise<R>;
    try {
      written = this.write(key, value);
    } catch (error) {
      written = Promise.reject(error);
    }
    const next = (error?: unknown) => {
      const waiting = this.keys.get(key);
      if (waiting === null || waiting === undefined) {
        this.keys.delete(key);
        return;
      }
      if (error !== undefined && this.shared(error)) {
        this.keys.delete(key);
        waiting.resolve(Promise.reject(error));
        return;
      }
      this.keys.set(key, null);
      waiting.resolve(this.start(key, waiting.value));
    };
    written.then(() => next(), next);
    return written;
  }
}

interface Waiting<V, R> {
  /** The value the group will write: the last one to arrive. */
  value: V;
  outcome: Promise<R>;
  resolve: (result: Promise<R>) => void;
}
