/**
 * Redis adapter for the Cache port (ioredis). Invariants:
 * - commands made in one event-loop turn go out as one pipeline
 *   (enableAutoPipelining), and on a single Redis the GETs made together
 *   (in one run of the process's tick queue, before any other command) as
 *   one MGET, and the eval()s of one manyKeys script made together as one
 *   script call over all their keys: a command through ioredis and our
 *   clock cost this process several microseconds, a key in an MGET a
 *   fraction of that, a warm login makes two GETs and every nickname update
 *   one write-through script (bench/RESULTS.md). Order is kept: only one
 *   batch is held at a time, and any other command (or a GET while evals
 *   are held, or the reverse) first sends the batch made before it. A
 *   failure of a batch's command fails every caller in it;
 * - nothing queues while Redis is unreachable (enableOfflineQueue: false) and
 *   every command fails within its timeout (plus a sweep interval), however
 *   ioredis queued it, so an outage costs callers little;
 * - after a command times out, Redis is presumed hung and every command fails
 *   at once for a moment (callers take their fallback) instead of each one
 *   waiting out its own timeout; then commands are tried again;
 * - the client reconnects forever with a capped delay, and `onRecover`
 *   listeners run whenever Redis answers again after an outage of either kind;
 * - with `clusterNodes`, the same holds over a Redis Cluster (ioredis.Cluster);
 *   every command touches one key, so no command spans two hash slots
 *   (MGET, batched evals and evalEach, one command for many keys on a
 *   single Redis, are one command per key there).
 */
import Redis, { Cluster } from 'ioredis';
import type { Logger } from '../log.ts';
import { parseAddress } from '../wire/address.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import type { Cache, CacheScript } from './port.ts';

export interface RedisCacheOptions {
  /** A single Redis: redis://host:port. */
  url: string;
  /** Or a Redis Cluster: host:port of some of its nodes. */
  clusterNodes: readonly string[];
  keyPrefix: string;
  commandTimeoutMs: number;
  /**
   * Every script eval() will be given. They are defined when the client is
   * made: ioredis copies custom commands into each auto-pipeline when it
   * creates it, so a command defined later breaks the pipeline of that turn
   * (ioredis issue #1931).
   */
  scripts?: readonly CacheScript[];
}

function connect(options: RedisCacheOptions): Redis | Cluster {
  const redisOptions = {
    keyPrefix: options.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // No commandTimeout: commandClock below bounds every command, and
    // ioredis' own timeout costs a timer set and cleared per command
    // (measured in bench/RESULTS.md, "Small costs quoted by the code").
    connectTimeout: Math.max(1000, options.commandTimeoutMs * 2),
    retryStrategy: (attempt: number) => Math.min(50 * attempt, 1000),
  };
  if (options.clusterNodes.length === 0)
    return new Redis(options.url, { ...redisOptions, enableAutoPipelining: true });
  return new Cluster(
    options.clusterNodes.map((node) => {
      const { host, port } = parseAddress(node);
      return { host, port };
    }),
    {
      redisOptions,
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
    },
  );
}

const TIMED_OUT = 'Command timed out';
/** Redis's answers to a missing or wrong password (or ACL user). */
const CREDENTIALS_REFUSED = /\bNOAUTH\b|\bWRONGPASS\b|invalid password|invalid username-password/i;

/**
 * Our own clock on every command. ioredis starts a command's timer only when
 * it writes the command, and with auto-pipelining it runs one pipeline at a
 * time: a command made while an earlier pipeline is unanswered waits, without
 * a timer, until that one has timed out, and then waits out its own timeout.
 * One interval timer sweeps all outstanding commands (not a timer each: this
 * is on the path of every login).
 */
function commandClock(timeoutMs: number) {
  interface Outstanding {
    until: number;
    reject: (error: Error) => void;
  }
  const outstanding = new Set<Outstanding>();
  const sweepMs = Math.max(5, Math.min(50, Math.round(timeoutMs / 10)));
  let sweeper: Timer | null = null;

  function sweep(): void {
    const now = performance.now();
    for (const entry of outstanding) {
      if (entry.until > now) continue;
      outstanding.delete(entry);
      entry.reject(new Error(TIMED_OUT));
    }
    if (outstanding.size === 0 && sweeper !== null) {
      clearInterval(sweeper);
      sweeper = null;
    }
  }

  return function bounded<T>(command: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Outstanding = { until: performance.now() + timeoutMs, reject };
      outstanding.add(entry);
      if (sweeper === null) {
        sweeper = setInterval(sweep, sweepMs);
        sweeper.unref();
      }
      command.then(
        (value) => {
          outstanding.delete(entry);
          resolve(value);
        },
        (error) => {
          outstanding.delete(entry);
          reject(error);
        },
      );
    });
  };
}

/**
 * Says, as an error, when Redis may evict keys (each time it is connected to: a
 * restarted Redis may come back with another setting). An evicted revocation entry
 * beside a sentinel that stays makes a logged-out session work again; a failure audit
 * accepted 30 of 30 that way under `allkeys-lru`, with nothing said.
 */
async function checkEviction(redis: Redis | Cluster, target: string, log: Logger): Promise<void> {
  let info: string;
  try {
    info = await redis.info('memory');
  } catch {
    return; // unreachable again, or INFO not allowed here: nothing to tell
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  // Without a memory limit Redis evicts nothing, whatever the policy (found in review).
  const limit = /^maxmemory:(\d+)/m.exec(info)?.[1];
  if (policy === undefined || policy === 'noeviction' || limit === '0') return;
  log.error(
    { policy },
    `Redis at ${target} evicts keys (maxmemory-policy ${policy}): an evicted logout lets its ` +
      'session work again; set maxmemory-policy noeviction (README, "Scaling out")',
  );
}

/** The name of a manyKeys script's command taking any number of keys. */
function manyKeysName(script: CacheScript): string {
  return `${script.name}Many`;
}

/** Where the cache is looked for, without a password: host:port, or the cluster's nodes. */
function cacheTarget(options: RedisCacheOptions): string {
  if (options.clusterNodes.length > 0) return options.clusterNodes.join(',');
  try {
    const { hostname, port } = new URL(options.url);
    return `${hostname}:${port || '6379'}`;
  } catch {
    return '(REDIS_URL)';
  }
}

export function createRedisCache(options: RedisCacheOptions, log: Logger): Cache {
  const redis = connect(options);
  const defined = new Set<string>();
  for (const script of options.scripts ?? []) {
    // EVALSHA with a fallback to EVAL, and the key prefix applied to KEYS.
    redis.defineCommand(script.name, { numberOfKeys: 1, lua: script.lua });
    defined.add(script.name);
    // A manyKeys script also as a command given its number of keys with each
    // call. Not on a Cluster: auto-pipelining there routes a command by its
    // first argument, which would be that number.
    if (script.manyKeys) redis.defineCommand(manyKeysName(script), { lua: script.lua });
  }
  const bounded = commandClock(options.commandTimeoutMs);
  const listeners: (() => void)[] = [];
  const breakMs = Math.max(1000, options.commandTimeoutMs);
  let down = false;
  let brokenUntil = 0;

  // Until Redis has answered once, unreachable is as likely a wrong address as an
  // outage: the warning says where it looked and what to do (README: running
  // without the cache is allowed, so the start goes on).
  let answered = false;
  /** Told once per streak: Redis refused this server's credentials. */
  let credentialsWarned = false;
  function markDown(reason: string): void {
    // Its own line whenever it shows, even amid an outage already told: the first reason
    // of a streak ("Stream isn't writeable") hid a NOAUTH behind it, and the start-up
    // advice was to start Redis (a failure audit restarted Redis with a password).
    if (CREDENTIALS_REFUSED.test(reason)) {
      if (!credentialsWarned)
        log.warn(
          { reason },
          `Redis at ${cacheTarget(options)} refused this server's credentials: ` +
            (options.clusterNodes.length > 0
              ? 'REDIS_CLUSTER_NODES carries none, so give the nodes no password (a private network)'
              : 'put them in REDIS_URL (redis://:<password>@host:port, or redis://<user>:<password>@… for an ACL user)') +
            '; serving without it until it answers',
        );
      credentialsWarned = true;
      down = true;
      return;
    }
    if (!down && answered) log.warn({ reason }, 'cache unreachable');
    else if (!down)
      log.warn(
        { reason },
        `cache unreachable since start at ${cacheTarget(options)}: start Redis there, or fix ` +
          `${options.clusterNodes.length > 0 ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL'}; ` +
          'serving without it until it answers',
      );
    down = true;
  }

  function markUp(): void {
    answered = true;
    credentialsWarned = false;
    if (!down) return;
    down = false;
    log.info('cache reachable again');
    for (const listener of listeners) listener();
  }

  redis.on('error', (err) => markDown(err.message));
  redis.on('close', () => markDown('connection closed'));
  redis.on('ready', markUp);
  redis.on('ready', () => void checkEviction(redis, cacheTarget(options), log));

  async function run<T>(command: () => Promise<T>): Promise<T> {
    if (brokenUntil > 0 && performance.now() < brokenUntil) {
      throw new RpcError(Status.UNAVAILABLE, MESSAGES.CACHE_UNAVAILABLE, {
        cause: 'presumed hung after a timeout',
      });
    }
    try {
      const result = await bounded(command());
      brokenUntil = 0;
      if (redis.status === 'ready') markUp();
      return result;
    } catch (cause) {
      if ((cause as Error).message === TIMED_OUT) {
        brokenUntil = performance.now() + breakMs;
        markDown('command timed out');
      }
      throw new RpcError(Status.UNAVAILABLE, MESSAGES.CACHE_UNAVAILABLE, { cause });
    }
  }

  function scriptCommand(
    script: CacheScript,
    name = script.name,
  ): (...a: unknown[]) => Promise<number[]> {
    if (!defined.has(script.name))
      throw new Error(`script ${script.name} was not given to createRedisCache`);
    const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<number[]>>)[
      name
    ];
    return (command as (...a: unknown[]) => Promise<number[]>).bind(redis);
  }

  /** GETs not yet sent (the next MGET), with their callers. */
  let gets: {
    key: string;
    resolve: (value: Buffer | null) => void;
    reject: (e: unknown) => void;
  }[] = [];

  function sendGets(): void {
    const batch = gets;
    if (batch.length === 0) return;
    gets = [];
    run(() => redis.mgetBuffer(batch.map((get) => get.key))).then(
      (values) => {
        for (const [i, get] of batch.entries()) get.resolve(values[i] ?? null);
      },
      (err) => {
        for (const get of batch) get.reject(err);
      },
    );
  }

  function get(key: string): Promise<Buffer | null> {
    // A Cluster spreads keys over slots: no MGET there.
    if (redis instanceof Cluster) return run(() => redis.getBuffer(key));
    sendEvals();
    return new Promise((resolve, reject) => {
      if (gets.length === 0) process.nextTick(sendGets);
      gets.push({ key, resolve, reject });
    });
  }

  /** eval()s of one manyKeys script not yet sent (the next script call), with their callers. */
  let evals: {
    script: CacheScript;
    command: (...a: unknown[]) => Promise<number[]>;
    calls: {
      key: string;
      args: unknown[];
      resolve: (v: number[]) => void;
      reject: (e: unknown) => void;
    }[];
  } | null = null;

  function sendEvals(): void {
    const batch = evals;
    if (batch === null) return;
    evals = null;
    const call: unknown[] = [batch.calls.length];
    for (const { key } of batch.calls) call.push(key);
    for (const { args } of batch.calls) for (const arg of args) call.push(arg);
    run(() => batch.command(...call)).then(
      (answers) => {
        for (const [i, each] of batch.calls.entries()) each.resolve([answers[i] ?? 0]);
      },
      (err) => {
        for (const each of batch.calls) each.reject(err);
      },
    );
  }

  /** Sends the batch held (GETs or evals: never both), before any other command. */
  function flush(): void {
    sendGets();
    sendEvals();
  }

  return {
    get,
    eval(script, key, args) {
      // ioredis sends a Buffer as bytes, but any other Uint8Array as its toString().
      const argv = args.map((arg) =>
        arg instanceof Uint8Array && !Buffer.isBuffer(arg)
          ? Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)
          : arg,
      );
      if (!script.manyKeys || redis instanceof Cluster) {
        flush();
        const command = scriptCommand(script);
        return run(() => command(key, ...argv));
      }
      sendGets();
      if (evals !== null && evals.script !== script) sendEvals();
      const command = scriptCommand(script, manyKeysName(script));
      return new Promise((resolve, reject) => {
        if (evals === null) {
          evals = { script, command, calls: [] };
          process.nextTick(sendEvals);
        }
        evals.calls.push({ key, args: argv, resolve, reject });
      });
    },
    async evalEach(script, shared, items) {
      flush();
      if (items.length === 0) return [];
      if (redis instanceof Cluster) {
        const command = scriptCommand(script);
        const answers = await Promise.all(
          items.map(({ key, args }) => run(() => command(key, ...shared, ...args))),
        );
        return answers.map((answer) => answer[0] ?? 0);
      }
      const command = scriptCommand(script, manyKeysName(script));
      const call: (string | number)[] = [items.length];
      for (const { key } of items) call.push(key);
      call.push(...shared);
      for (const { args } of items) for (const arg of args) call.push(arg);
      return run(() => command(...call));
    },
    set(key, value, ttlMs, ifAbsent = false) {
      flush();
      const px = Math.max(1, Math.round(ttlMs));
      const data = Buffer.from(value);
      return run(async () => {
        const reply = ifAbsent
          ? await redis.set(key, data, 'PX', px, 'NX')
          : await redis.set(key, data, 'PX', px);
        return reply === 'OK';
      });
    },
    async del(keys) {
      flush();
      // One key per command: in a cluster, keys live in different slots.
      await Promise.all(keys.map((key) => run(() => redis.del(key))));
    },
    hashGetAll(key) {
      flush();
      return run(async () => new Map(Object.entries(await redis.hgetall(key))));
    },
    async hashDelete(key, fields) {
      flush();
      if (fields.length > 0) await run(() => redis.hdel(key, ...fields));
    },
    onRecover(listener) {
      listeners.push(listener);
    },
    async close() {
      redis.disconnect();
    },
  };
}
