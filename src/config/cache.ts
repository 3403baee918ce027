/** The Redis cache (none when neither REDIS_URL nor REDIS_CLUSTER_NODES is set) and its lifetimes. */
import type { Reader } from './reader.ts';
import { addresses, int, text, url } from './variable.ts';

export const redisVariables = {
  url: url('REDIS_URL', {
    schemes: ['redis:', 'rediss:'],
    example: 'redis://host:6379',
    doc: 'redis://host:6379; unset: no cache',
  }),
  clusterNodes: addresses('REDIS_CLUSTER_NODES', {
    default: [],
    doc: 'instead of REDIS_URL: host:port of some Redis Cluster nodes, comma-separated',
  }),
  keyPrefix: text('REDIS_KEY_PREFIX', { default: 'um:', doc: 'key namespace' }),
  commandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS', {
    default: 1000,
    min: 10,
    max: 60_000,
    doc: 'per command; after a timeout Redis is skipped for a second',
  }),
};

export const cacheVariables = {
  ttlS: int('CACHE_TTL_S', {
    default: 300,
    min: 1,
    max: 86_400 * 30,
    doc: 'how long users stay cached (+-10 %)',
  }),
  negativeTtlS: int('CACHE_NEGATIVE_TTL_S', {
    default: 10,
    min: 1,
    max: 3600,
    doc: 'how long "no such user" stays cached',
  }),
  bypassConcurrency: int('CACHE_BYPASS_CONCURRENCY', {
    default: 32,
    min: 1,
    max: 10_000,
    doc: 'store reads at once while Redis is unreachable',
  }),
};

export function readCache(read: Reader) {
  const redis = read.all(redisVariables);
  if (/[{}]/.test(redis.keyPrefix)) {
    read.problem(
      redisVariables.keyPrefix,
      redis.keyPrefix,
      'a prefix without { or }: they would change the hash tags that keep related keys together',
    );
  }
  // Both set: one would be ignored without a word (the cluster won, and a REDIS_URL
  // server that is no cluster left the stack without a cache, said to be unreachable).
  if (redis.url !== '' && redis.clusterNodes.length > 0) {
    read.problem(
      redisVariables.clusterNodes,
      redis.clusterNodes.join(','),
      'one of REDIS_URL (one Redis) and REDIS_CLUSTER_NODES (a Redis Cluster), not both',
    );
  }
  return { redis, cache: read.all(cacheVariables) };
}
