/**
 * The TCP server's configuration: its listener, the store, the cache, the
 * secrets, the account and picture settings, and what every process reads.
 */
import { readAccounts } from './accounts.ts';
import { readCache } from './cache.ts';
import { readRateLimits } from './limits.ts';
import { readPictures } from './pictures.ts';
import { load, type Reader } from './reader.ts';
import { readSecrets } from './secrets.ts';
import { readShared } from './shared.ts';
import { readStore } from './store.ts';
import { readTcp } from './tcp.ts';
import type { Env } from './variable.ts';

export function readTcpConfig(read: Reader) {
  return {
    ...readShared(read),
    tcp: readTcp(read),
    ...readStore(read),
    ...readCache(read),
    ...readSecrets(read),
    ...readAccounts(read),
    rateLimits: readRateLimits(read),
    pictures: readPictures(read),
  };
}

/** Reads the TCP server's variables once; throws a ConfigError listing every bad one. */
export function loadTcpConfig(env: Env = process.env) {
  return load(env, readTcpConfig);
}

export type TcpConfig = ReturnType<typeof loadTcpConfig>;
