/**
 * The Cache port: a shared key-value store with expiry (Redis, or none).
 * Values are bytes. An unreachable cache throws RpcError UNAVAILABLE quickly
 * (no unbounded queue of commands waits for it); callers decide what an
 * outage means for them.
 */
/** A Lua script run atomically on one key. `name` identifies it (the adapter caches it by name). */
export interface CacheScript {
  name: string;
  lua: string;
  /**
   * Written for any number of keys, answering one integer per key: ARGV is
   * the shared arguments, then each key's own, all of one width (see
   * Cache.evalEach); otherwise KEYS[1] only. Given to eval(), it has no
   * shared arguments, and on a single Redis the eval()s of it made together
   * may run as one call.
   */
  manyKeys?: boolean;
}

/** One key of an evalEach(), with its own arguments. */
interface KeyedArgs {
  key: string;
  args: readonly (string | number)[];
}

export interface Cache {
  get(key: string): Promise<Uint8Array | null>;
  /** Sets with a time to live; with `ifAbsent`, only when the key does not exist. True when set. */
  set(key: string, value: Uint8Array | string, ttlMs: number, ifAbsent?: boolean): Promise<boolean>;
  del(keys: string[]): Promise<void>;
  /** The fields and values of the hash at `key` (none when there is no such key). */
  hashGetAll(key: string): Promise<Map<string, string>>;
  /** Removes fields from the hash at `key`. */
  hashDelete(key: string, fields: readonly string[]): Promise<void>;
  /**
   * Runs `script` atomically with KEYS[1] = `key` and ARGV = `args` (bytes
   * travel as they are); returns its array of integers. A manyKeys script
   * may run for other keys in the same call (their own arguments after
   * these, see CacheScript.manyKeys): it answers [its integer for `key`], and
   * a failure of the call fails every eval() in it.
   */
  eval(
    script: CacheScript,
    key: string,
    args: readonly (string | number | Uint8Array)[],
  ): Promise<number[]>;
  /**
   * Runs `script` (a `manyKeys` one) for every item, atomically per key:
   * ARGV is `shared`, then each item's args in turn (all of one width), and
   * the script answers one integer per key, in order. On a single Redis all
   * items are one command (one script run); on a Cluster, where keys live in
   * different slots, one command per item, each with KEYS[1] only.
   */
  evalEach(
    script: CacheScript,
    shared: readonly (string | number)[],
    items: readonly KeyedArgs[],
  ): Promise<number[]>;
  /** `listener` runs each time the cache is reachable again after an outage. */
  onRecover(listener: () => void): void;
  close(): Promise<void>;
}
