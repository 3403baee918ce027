/**
 * Redis adapter for the Cache port (ioredis). Invariants:
 * - commands made in one event-loop turn go out as one pipeline
 *   (enableAutoPipelining);
 * - nothing queues while Redis is unreachable (enableOfflineQueue: false) and
 *   every command has a timeout, so an outage costs callers milliseconds;
 * - the client reconnects forever with a capped delay, and `onRecover`
 *   listeners run on each reconnection after an outage.
 */
import Redis from 'ioredis';
import type { Logger } from '../log.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { Cache } from './port.ts';

export interface RedisCacheOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
}

export function createRedisCache(options: RedisCacheOptions, log: Logger): Cache {
  const redis = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs * 4),
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
  });
  const listeners: (() => void)[] = [];
  let down = false;
  redis.on('error', (err) => {
    if (!down) log.warn({ err: err.message }, 'cache unreachable');
    down = true;
  });
  redis.on('close', () => {
    down = true;
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('cache reachable again');
    for (const listener of listeners) listener();
  });

  const unavailable = (cause: unknown) =>
    new RpcError(Status.UNAVAILABLE, 'cache unavailable', { cause });

  return {
    async get(key) {
      try {
        return await redis.getBuffer(key);
      } catch (cause) {
        throw unavailable(cause);
      }
    },
    async set(key, value, ttlMs, ifAbsent = false) {
      const px = Math.max(1, Math.round(ttlMs));
      try {
        const reply = ifAbsent
          ? await redis.set(key, Buffer.from(value), 'PX', px, 'NX')
          : await redis.set(key, Buffer.from(value), 'PX', px);
        return reply === 'OK';
      } catch (cause) {
        throw unavailable(cause);
      }
    },
    async del(keys) {
      if (keys.length === 0) return;
      try {
        await redis.del(...keys);
      } catch (cause) {
        throw unavailable(cause);
      }
    },
    onRecover(listener) {
      listeners.push(listener);
    },
    async close() {
      redis.disconnect();
    },
  };
}
