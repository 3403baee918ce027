/**
 * The Cache port: a shared key-value store with expiry (Redis, or none).
 * Values are bytes. An unreachable cache throws RpcError UNAVAILABLE quickly
 * (no unbounded queue of commands waits for it); callers decide what an
 * outage means for them.
 */
export interface Cache {
  get(key: string): Promise<Uint8Array | null>;
  /** Sets with a time to live; with `ifAbsent`, only when the key does not exist. True when set. */
  set(key: string, value: Uint8Array | string, ttlMs: number, ifAbsent?: boolean): Promise<boolean>;
  del(keys: string[]): Promise<void>;
  /** `listener` runs each time the cache is reachable again after an outage. */
  onRecover(listener: () => void): void;
  close(): Promise<void>;
}
