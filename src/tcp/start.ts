import { hostname } from 'node:os';
import type { Cache } from '../cache/port.ts';
import { createRedisCache } from '../cache/redis.ts';
import type { TcpConfig } from '../config/tcp-config.ts';
import { Accounts } from '../core/accounts.ts';
import { AdminToken } from '../core/admin-token.ts';
import { AdminUsers } from '../core/admin-users.ts';
import { CacheRepairs } from '../core/cache-repairs.ts';
import { CachedUsers, USER_SCRIPTS } from '../core/cached-users.ts';
import { CredentialMemo } from '../core/credential-memo.ts';
import { DeviceCookies } from '../core/device-cookies.ts';
import { IdGenerator } from '../core/ids.ts';
import { LoginTickets } from '../core/login-tickets.ts';
import { OwnSessions } from '../core/own-sessions.ts';
import { Passwords } from '../core/passwords.ts';
import { PictureChecks } from '../core/picture-checks.ts';
import { Pictures } from '../core/pictures.ts';
import { RATE_LIMIT_SCRIPTS, RateLimits } from '../core/rate-limits.ts';
import { REVOCATION_SCRIPTS, Revocations, SHARDS } from '../core/revocations.ts';
import { SESSION_LIST_SCRIPTS, SessionList } from '../core/session-list.ts';
import { SessionTokens } from '../core/session-tokens.ts';
import { SpentTickets } from '../core/spent-tickets.ts';
import { TotpAccount } from '../core/totp-account.ts';
import { SecretBox, totpKey } from '../core/totp-keys.ts';
import { TwoStep } from '../core/two-step.ts';
import { Semaphore } from '../lib/semaphore.ts';
import type { Logger } from '../log.ts';
import { ImageWorkers } from '../media/image-workers.ts';
import { openPictureStore } from '../media/open.ts';
import { secureDataDir } from '../store/data-dir.ts';
import { openStore } from '../store/open.ts';
import type { UserRow, UserStore } from '../store/port.ts';
import { adminHandlers } from './admin-handlers.ts';
import { createDispatch } from './dispatch.ts';
import { accountHandlers } from './handlers.ts';
import { createTcpMetrics, noTcpMetrics } from './metrics.ts';
import { startOpsServer } from './ops-server.ts';
import { pictureHandlers } from './picture-handlers.ts';
import { sessionSecrets } from './secrets.ts';
import { startTcpServer, type TcpServer } from './server.ts';
import { sessionHandlers } from './session-handlers.ts';
import { totpHandlers } from './totp-handlers.ts';

export interface TcpApp {
  server: TcpServer;
  serverId: string;
  store: UserStore;
  cache: Cache | null;
  accounts: Accounts;
  admin: AdminUsers;
  passwords: Passwords;
  memo: CredentialMemo;
  limits: RateLimits;
  users: CachedUsers;
  /** Each user's list of live sessions. */
  sessions: SessionList;
  /** The port of /metrics, /healthz and /readyz. */
  opsPort: number;
  pictures: Pictures;
  /** The processes that decode pictures (what each job cost them, for tests and benches). */
  images: ImageWorkers;
  /** Graceful: stop accepting, finish in-flight calls, release adapters. */
  stop(): Promise<void>;
}

/** An image process resident above this after a job is replaced (see docs/DESIGN.md, Data). */
const IMAGE_PROCESS_RECYCLE_BYTES = 96 * 1024 * 1024;

/** The name authenticator apps show beside the username. */
const TOTP_ISSUER = 'usermgr';

/** How often expired revocations and listed sessions are forgotten. */
const PURGE_INTERVAL_MS = 10 * 60_000;
/** A picture's temporary file older than this belongs to no put still running. */
const TEMPORARY_PICTURE_AGE_MS = 60 * 60_000;

/** Wires the services to their adapters and starts listening. Used by main.ts and the tests. */
export async function startTcpApp(config: TcpConfig, log: Logger): Promise<TcpApp> {
  const serverId = `${hostname()}:${process.pid}`;
  const metrics = config.metricsEnabled ? createTcpMetrics() : noTcpMetrics();
  // DATA_DIR holds the SQLite file, the generated session secret and local pictures.
  const usesDataDir =
    config.mysql.url === '' ||
    config.sessions.secrets.length === 0 ||
    config.pictures.s3.bucket === '';
  if (usesDataDir) secureDataDir(config.dataDir, log);
  const store = metrics.timedStore(
    await openStore(
      {
        mysqlUrl: config.mysql.url,
        dataDir: config.dataDir,
        mysql: config.mysql,
        replicas: {
          urls: config.mysql.replicaUrls,
          maxLagMs: config.mysql.replicaMaxLagMs,
          checkIntervalMs: config.mysql.replicaCheckMs,
          observer: metrics.replicas,
        },
      },
      log,
    ),
  );
  const useCache = config.redis.url !== '' || config.redis.clusterNodes.length > 0;
  const cache = useCache
    ? metrics.timedCache(
        createRedisCache(
          {
            ...config.redis,
            scripts: [
              ...RATE_LIMIT_SCRIPTS,
              ...REVOCATION_SCRIPTS,
              ...SESSION_LIST_SCRIPTS,
              ...USER_SCRIPTS,
            ],
          },
          log,
        ),
      )
    : null;
  const bypass = new Semaphore(config.cache.bypassConcurrency, config.cache.bypassConcurrency * 8);
  const users = new CachedUsers(
    store,
    cache,
    bypass,
    {
      ttlMs: config.cache.ttlS * 1000,
      negativeTtlMs: config.cache.negativeTtlS * 1000,
      tombstoneMs: Math.max(5000, config.mysql.queryTimeoutMs * 2),
    },
    log,
  );
  const passwords = new Passwords(config.passwords, metrics.observeHash);
  const memo = new CredentialMemo({
    ttlMs: config.passwords.memoTtlS * 1000,
    maxEntries: config.passwords.memoMaxEntries,
  });
  const ids = new IdGenerator(config.workerId);
  const limits = new RateLimits(cache, config.rateLimits, log);
  const secrets = sessionSecrets(config.sessions.secrets, config.dataDir, log, config.totp.keys);
  const revocations = new Revocations(
    store,
    cache,
    bypass,
    log,
    config.redis.clusterNodes.length > 0 ? SHARDS : 1,
  );
  const tokens = new SessionTokens(
    secrets,
    config.sessions.ttlS * 1000,
    config.sessions.rememberTtlS * 1000,
  );
  const sessions = new SessionList(store, cache, log);
  const twoStep = new TwoStep({
    store,
    users,
    limits,
    // TOTP_KEYS seal (the first) and open; keys derived from the session
    // secrets open too, and seal when TOTP_KEYS is unset (README, TOTP_KEYS).
    box: new SecretBox([...config.totp.keys, ...secrets].map(totpKey)),
    tickets: new LoginTickets(secrets),
    spent: new SpentTickets(cache),
    issuer: TOTP_ISSUER,
  });
  const accounts = new Accounts({
    store,
    users,
    revocations,
    passwords,
    memo,
    tokens,
    devices: new DeviceCookies(secrets, config.sessions.deviceTtlS * 1000),
    ids,
    limits,
    sessions,
    twoStep,
    log,
  });
  const ownSessions = new OwnSessions({ accounts, sessions, revocations, tokens, limits });
  const files = openPictureStore(config.pictures.s3, config.dataDir);
  const images = new ImageWorkers(
    {
      size: config.pictures.concurrency,
      maxPixels: config.pictures.maxPixels,
      recycleAboveBytes: IMAGE_PROCESS_RECYCLE_BYTES,
    },
    log,
  );
  const pictures = new Pictures(
    {
      accounts,
      store,
      users,
      processor: images,
      limits,
      files: files.store,
      log,
    },
    config.pictures,
  );

  const admin = new AdminUsers({
    token: new AdminToken(config.admin.token),
    store,
    users,
    passwords,
    ids,
    log,
    // A deleted user's picture goes too, unless another user has the same one; its list of sessions goes.
    onUserDeleted: async (user: UserRow) => {
      if (user.picture !== '') pictures.release(user.picture);
      await sessions.forgetUser(user.id);
    },
  });

  const server = startTcpServer(
    { ...config.tcp, maxFrameBytes: config.maxFrameBytes },
    createDispatch(
      {
        ping: () => ({ serverId }),
        ...accountHandlers(accounts, pictures),
        ...sessionHandlers(ownSessions),
        ...totpHandlers(accounts, new TotpAccount(accounts, twoStep)),
        ...pictureHandlers(pictures),
        ...adminHandlers(admin),
      },
      log,
      metrics.observeCall,
    ),
    log,
  );
  metrics.watch({ server, users, memo, passwords, limits, sessions });
  let draining = false;
  const ops = startOpsServer(
    { host: config.tcp.host, port: config.tcp.metricsPort },
    { registry: config.metricsEnabled ? metrics.registry : null, store, draining: () => draining },
  );
  const purge = setInterval(() => {
    store
      .purgeExpiredRevocations(Date.now())
      .catch((err) => log.warn({ err }, 'purging expired revocations failed'));
    store
      .purgeExpiredSessions(Date.now())
      .catch((err) => log.warn({ err }, 'purging expired listed sessions failed'));
  }, PURGE_INTERVAL_MS);
  purge.unref();
  // What Redis missed while this or another server wrote to it (cache-repairs.ts).
  const repairs = cache === null ? null : new CacheRepairs(store, cache, revocations, users, log);
  repairs?.start();
  // Picture files a stopped process left unnamed (picture-checks.ts).
  const checks = new PictureChecks(store, (name) => pictures.check(name), log);
  checks.start();
  // And the temporary files of puts a stopped process never finished (local-store.ts), once.
  let sweeping = true;
  const sweep = files.store
    .sweepTemporaries?.(TEMPORARY_PICTURE_AGE_MS, Date.now(), () => !sweeping)
    .then((removed) => {
      if (removed > 0)
        log.info({ removed }, 'removed temporary picture files of unfinished uploads');
    })
    .catch((err) => log.warn({ err }, 'removing temporary picture files failed'));
  log.info(
    {
      host: config.tcp.host,
      port: server.port,
      store: config.mysql.url ? 'mysql' : 'sqlite',
      cache: cache ? (config.redis.clusterNodes.length > 0 ? 'redis-cluster' : 'redis') : 'none',
      pictures: files.where,
      adminApi: admin.enabled ? 'on' : 'off',
      workerId: config.workerId,
      // Whether clients must prove TCP_SHARED_SECRET; never the secret itself.
      handshake: config.tcp.sharedSecrets.length > 0 ? 'shared secret' : 'none (loopback only)',
    },
    'tcp server listening',
  );
  if (!admin.enabled) {
    log.info('admin API is off (/users answers 404): set ADMIN_TOKEN to turn it on');
  }
  if (config.workerIdEmpty) {
    log.warn(
      'WORKER_ID is set to nothing, so this server uses 0: every TCP server needs its own ' +
        '(in Kubernetes the pod-index label it is read from needs 1.28 or later)',
    );
  }
  return {
    server,
    serverId,
    store,
    cache,
    accounts,
    admin,
    passwords,
    memo,
    limits,
    users,
    sessions,
    pictures,
    images,
    opsPort: ops.port ?? 0,
    /** Fails readiness, stops accepting, finishes in-flight calls (up to SHUTDOWN_TIMEOUT_MS), then releases everything. */
    async stop() {
      draining = true;
      clearInterval(purge);
      repairs?.stop();
      await server.stop(config.shutdownTimeoutMs);
      await checks.stop();
      sweeping = false;
      await sweep;
      // The last batch of listed sessions, while the store is still open.
      await sessions.close();
      passwords.close();
      pictures.close();
      await pictures.settled();
      await ops.stop(true);
      await cache?.close();
      await store.close();
      log.info('tcp server stopped');
    },
  };
}
