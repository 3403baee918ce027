/**
 * The HTTP server's configuration: its listener and request limits, the
 * pool to the TCP servers, and what every process reads. No secret but
 * TCP_SHARED_SECRET, which the pool proves itself with: the session secrets,
 * the admin token, the store and the S3 keys are the TCP server's alone.
 */
import { readHttp } from './http.ts';
import { readPool } from './pool.ts';
import { load, type Reader } from './reader.ts';
import { readShared } from './shared.ts';
import type { Env } from './variable.ts';

export function readHttpConfig(read: Reader) {
  const common = readShared(read);
  return { ...common, http: readHttp(read, common.maxFrameBytes), pool: readPool(read) };
}

/** Reads the HTTP server's variables once; throws a ConfigError listing every bad one. */
export function loadHttpConfig(env: Env = process.env) {
  return load(env, readHttpConfig);
}

export type HttpConfig = ReturnType<typeof loadHttpConfig>;
/** The `http` section, which the application (createApp) is built from. */
export type HttpOptions = HttpConfig['http'];
