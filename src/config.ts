/**
 * The one configuration object, read from the environment once at start-up
 * (Bun also loads `.env`; see `.env.example` for every variable). Every bad
 * value is reported at once, with what was expected, and the process stops.
 * Modules receive the parts they need; none reads process.env itself.
 */
import { parseAddress } from './wire/address.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './wire/frame.ts';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const MiB = 1024 * 1024;

export function loadConfig(env: Env = process.env) {
  const read = new Reader(env);
  const tcpHost = read.string('TCP_HOST', '127.0.0.1');
  const tcpPort = read.int('TCP_PORT', 9090, 0, 65535);
  const config = {
    /** Prometheus metrics on both servers; off only to measure what they cost. */
    metricsEnabled: read.bool('METRICS_ENABLED', true),
    logLevel: read.oneOf('LOG_LEVEL', 'info', [
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ]),
    maxFrameBytes: read.int('MAX_FRAME_BYTES', DEFAULT_MAX_FRAME_BYTES, 1024, 64 * MiB),
    shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    http: {
      host: read.string('HTTP_HOST', '127.0.0.1'),
      port: read.int('HTTP_PORT', 8080, 0, 65535),
      maxJsonBytes: read.int('HTTP_MAX_JSON_BYTES', 16 * 1024, 1024, 16 * MiB),
      /** Let several HTTP server processes listen on the same port (the kernel spreads connections). */
      reusePort: read.bool('HTTP_REUSE_PORT', false),
      /**
       * How many HTTP server processes `npm start` runs (with HTTP_REUSE_PORT).
       * One per core, up to 4: the HTTP server is the busiest process, and on
       * 2 cores a second one gave 9-14 % more logins (bench/RESULTS.md).
       */
      processes: read.int('HTTP_PROCESSES', Math.min(4, navigator.hardwareConcurrency || 1), 1, 64),
      maxUploadBytes: read.int('HTTP_MAX_UPLOAD_BYTES', 5 * MiB, 1024, 63 * MiB),
    },
    tcp: {
      host: tcpHost,
      port: tcpPort,
      maxConnections: read.int('TCP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
      maxInFlightPerConnection: read.int('TCP_MAX_IN_FLIGHT_PER_CONNECTION', 8192, 1, 1_000_000),
      maxBufferedBytesPerConnection: read.int(
        'TCP_MAX_BUFFERED_BYTES',
        32 * MiB,
        64 * 1024,
        1024 * MiB,
      ),
      defaultDeadlineMs: read.int('TCP_DEFAULT_DEADLINE_MS', 5000, 1, 600_000),
      partialFrameTimeoutMs: read.int('TCP_PARTIAL_FRAME_TIMEOUT_MS', 10_000, 100, 600_000),
      /** /metrics, /healthz and /readyz of the TCP server, on TCP_HOST. */
      metricsPort: read.int('TCP_METRICS_PORT', 9464, 0, 65535),
    },
    dataDir: read.string('DATA_DIR', './data'),
    trustProxy: read.bool('TRUST_PROXY', false),
    workerId: read.int('WORKER_ID', 0, 0, 1023),
    mysql: {
      url: read.string('MYSQL_URL', ''),
      poolSize: read.int('MYSQL_POOL_SIZE', 16, 1, 1000),
      queueLimit: read.int('MYSQL_QUEUE_LIMIT', 2000, 0, 1_000_000),
      queueTimeoutMs: read.int('MYSQL_QUEUE_TIMEOUT_MS', 1000, 1, 60_000),
      queryTimeoutMs: read.int('MYSQL_QUERY_TIMEOUT_MS', 3000, 1, 600_000),
      connectTimeoutMs: read.int('MYSQL_CONNECT_TIMEOUT_MS', 2000, 100, 60_000),
    },
    redis: {
      url: read.string('REDIS_URL', ''),
      clusterNodes: read.addresses('REDIS_CLUSTER_NODES', ''),
      keyPrefix: read.string('REDIS_KEY_PREFIX', 'um:'),
      commandTimeoutMs: read.int('REDIS_COMMAND_TIMEOUT_MS', 1000, 10, 60_000),
    },
    cache: {
      ttlS: read.int('CACHE_TTL_S', 300, 1, 86_400 * 30),
      negativeTtlS: read.int('CACHE_NEGATIVE_TTL_S', 10, 1, 3600),
      bypassConcurrency: read.int('CACHE_BYPASS_CONCURRENCY', 32, 1, 10_000),
    },
    admin: {
      /** Bearer token of the admin API (/users); '' turns that API off (404). */
      token: read.string('ADMIN_TOKEN', ''),
    },
    sessions: {
      secrets: read.list('SESSION_SECRET'),
      ttlS: read.int('SESSION_TTL_S', 86_400, 60, 86_400 * 365),
    },
    rateLimits: {
      userLimit: read.int('RATE_LIMIT_USER_ATTEMPTS', 10, 1, 1_000_000),
      userWindowMs: read.int('RATE_LIMIT_USER_WINDOW_S', 900, 1, 86_400) * 1000,
      userBaseDelayMs: read.int('RATE_LIMIT_USER_DELAY_MS', 1000, 1, 3_600_000),
      ipPerSecond: read.int('RATE_LIMIT_IP_PER_S', 5, 1, 100_000_000),
      ipBurst: read.int('RATE_LIMIT_IP_BURST', 30, 1, 100_000_000),
    },
    passwords: {
      memoryKiB: read.int('ARGON2_MEMORY_KIB', 19_456, 1024, 4 * 1024 * 1024),
      timeCost: read.int('ARGON2_TIME_COST', 2, 1, 100),
      concurrency: read.int('HASH_CONCURRENCY', navigator.hardwareConcurrency || 2, 1, 1024),
      maxWaiting: read.int('HASH_QUEUE', 64, 0, 100_000),
      memoTtlS: read.int('MEMO_TTL_S', 600, 0, 86_400),
      memoMaxEntries: read.int('MEMO_MAX_ENTRIES', 100_000, 0, 10_000_000),
    },
    pictures: {
      maxPixels: read.int('PICTURE_MAX_PIXELS', 40_000_000, 4096, 268_402_689),
      // Not one per core: each image process costs memory (see docs/DESIGN.md, Data).
      concurrency: read.int('PICTURE_CONCURRENCY', 2, 1, 1024),
      maxWaiting: read.int('PICTURE_QUEUE', 32, 0, 100_000),
      uploadBurst: read.int('PICTURE_UPLOAD_BURST', 10, 1, 1_000_000),
      uploadsPerMinute: read.int('PICTURE_UPLOADS_PER_MINUTE', 2, 1, 1_000_000),
      /**
       * This TCP server is one of several: pictures must go to a store they
       * all reach (S3), never to this server's own DATA_DIR/pictures.
       */
      shared: read.bool('PICTURES_SHARED', false),
      s3: {
        bucket: read.string('S3_BUCKET', ''),
        endpoint: read.string('S3_ENDPOINT', ''),
        region: read.string('S3_REGION', ''),
        accessKeyId: read.string('S3_ACCESS_KEY_ID', ''),
        secretAccessKey: read.string('S3_SECRET_ACCESS_KEY', ''),
        prefix: read.string('S3_PREFIX', 'pictures/'),
        timeoutMs: read.int('S3_TIMEOUT_MS', 5000, 100, 600_000),
      },
    },
    pool: {
      addresses: read.addresses(
        'TCP_ADDRS',
        `${tcpHost.includes(':') ? `[${tcpHost}]` : tcpHost}:${tcpPort || 9090}`,
      ),
      socketsPerAddress: read.int('POOL_SOCKETS', 2, 1, 256),
      maxInFlightPerSocket: read.int('POOL_MAX_IN_FLIGHT', 4096, 1, 1_000_000),
      maxWaiting: read.int('POOL_MAX_WAITING', 10_000, 0, 1_000_000),
      maxQueuedBytesPerSocket: read.int('POOL_MAX_QUEUED_BYTES', 32 * MiB, 64 * 1024, 1024 * MiB),
      connectTimeoutMs: read.int('POOL_CONNECT_TIMEOUT_MS', 2000, 10, 60_000),
      backoffBaseMs: read.int('POOL_BACKOFF_BASE_MS', 50, 1, 60_000),
      backoffMaxMs: read.int('POOL_BACKOFF_MAX_MS', 5000, 1, 600_000),
      callTimeoutMs: read.int('RPC_TIMEOUT_MS', 5000, 1, 600_000),
      dnsRefreshMs: read.int('POOL_DNS_REFRESH_MS', 10_000, 100, 3_600_000),
    },
  };
  for (const secret of config.sessions.secrets) {
    if (secret.length < 32) {
      read.problem(
        'SESSION_SECRET',
        '(hidden)',
        'secrets of at least 32 characters, comma-separated (newest first)',
      );
      break;
    }
  }
  // The whole upload travels in one frame, with room for the rest of the request.
  if (config.http.maxUploadBytes > config.maxFrameBytes - 64 * 1024) {
    read.problem(
      'HTTP_MAX_UPLOAD_BYTES',
      String(config.http.maxUploadBytes),
      `at most MAX_FRAME_BYTES - 65536 (${config.maxFrameBytes - 64 * 1024}): an upload travels in one frame`,
    );
  }
  const s3 = config.pictures.s3;
  if (s3.bucket !== '' && (s3.accessKeyId === '' || s3.secretAccessKey === '')) {
    read.problem(
      'S3_BUCKET',
      s3.bucket,
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY as well (or leave S3_BUCKET empty for local files)',
    );
  }
  if (config.pictures.shared && s3.bucket === '') {
    read.problem(
      'PICTURES_SHARED',
      'true',
      'S3_BUCKET as well: with several TCP servers each one would keep pictures in its own DATA_DIR, and the others answer 404',
    );
  }
  if (!/^[A-Za-z0-9!_.*'()/-]{0,512}$/.test(s3.prefix)) {
    read.problem('S3_PREFIX', s3.prefix, "letters, digits and !_.*'()/- only, e.g. pictures/");
  }
  if (config.admin.token !== '' && config.admin.token.length < 32) {
    read.problem(
      'ADMIN_TOKEN',
      '(hidden)',
      'at least 32 characters (e.g. `openssl rand -base64 32`), or unset to turn the admin API off',
    );
  }
  read.finish();
  return deepFreeze(config) as DeepReadonly<typeof config>;
}

export type Config = ReturnType<typeof loadConfig>;

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** Reads variables, collecting every problem so that one run reports them all. */
class Reader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (/^\s*-?\d+\s*$/.test(raw) && value >= min && value <= max) return value;
    this.problem(name, raw, `an integer from ${min} to ${max} (default ${fallback})`);
    return fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    this.problem(name, raw, `true or false (default ${fallback})`);
    return fallback;
  }

  /** A comma-separated list; empty when unset. */
  list(name: string): string[] {
    const raw = this.env[name] ?? '';
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problem(name, raw, `one of ${allowed.join(', ')} (default ${fallback})`);
    return fallback;
  }

  /** A comma-separated list of host:port; empty only when unset and `fallback` is ''. */
  addresses(name: string, fallback: string): string[] {
    const raw = this.string(name, fallback);
    if (raw === '') return [];
    const list = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const valid =
      list.length > 0 &&
      list.every((address) => {
        try {
          return parseAddress(address) !== null;
        } catch {
          return false;
        }
      });
    if (valid) return list;
    this.problem(
      name,
      raw,
      'a comma-separated list of host:port, e.g. 10.0.0.5:9090,10.0.0.6:9090',
    );
    return [fallback];
  }

  problem(name: string, raw: string, expected: string): void {
    this.problems.push(`  ${name}=${JSON.stringify(raw)}: expected ${expected}`);
  }

  finish(): void {
    if (this.problems.length === 0) return;
    throw new ConfigError(
      `invalid configuration:\n${this.problems.join('\n')}\n` +
        'Fix these in the environment or in .env (every variable is listed in .env.example).',
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
