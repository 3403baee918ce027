import { describe, expect, it } from 'bun:test';
import { declaredVariables } from './declared.ts';
import { loadHttpConfig } from './http-config.ts';
import { loadLauncherConfig } from './launcher-config.ts';
import { ConfigError } from './reader.ts';
import { loadTcpConfig } from './tcp-config.ts';

function failure(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('unit: loadHttpConfig and loadTcpConfig', () => {
  it('should work with nothing configured', () => {
    const http = loadHttpConfig({});
    expect(http.http).toMatchObject({ host: '127.0.0.1', port: 8080, trustProxy: false });
    expect(http.pool.addresses).toEqual(['127.0.0.1:9090']);
    expect(http.maxFrameBytes).toBe(8 * 1024 * 1024);
    const tcp = loadTcpConfig({});
    expect(tcp.tcp).toMatchObject({ host: '127.0.0.1', port: 9090 });
    expect(tcp.maxFrameBytes).toBe(8 * 1024 * 1024);
    expect(tcp.rateLimits.userWindowMs).toBe(900_000);
  });

  it('should be frozen all the way down', () => {
    const config = loadHttpConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pool.addresses)).toBe(true);
    expect(Object.isFrozen(loadTcpConfig({}).pictures.s3)).toBe(true);
  });

  it('should read TCP_ADDRS as a list and default it from TCP_HOST and TCP_PORT', () => {
    expect(loadHttpConfig({ TCP_ADDRS: '10.0.0.5:9090, [::1]:9091' }).pool.addresses).toEqual([
      '10.0.0.5:9090',
      '[::1]:9091',
    ]);
    expect(loadHttpConfig({ TCP_HOST: '10.1.1.1', TCP_PORT: '7000' }).pool.addresses).toEqual([
      '10.1.1.1:7000',
    ]);
  });

  it('should report every bad value at once, saying what was expected', () => {
    const message = failure(() =>
      loadHttpConfig({
        HTTP_PORT: 'eighty',
        POOL_SOCKETS: '0',
        TCP_ADDRS: 'nohost',
        LOG_LEVEL: 'loud',
      }),
    );
    expect(message).toContain('HTTP_PORT="eighty": expected an integer from 0 to 65535');
    expect(message).toContain('POOL_SOCKETS="0"');
    expect(message).toContain('TCP_ADDRS="nohost"');
    expect(message).toContain('LOG_LEVEL="loud"');
    expect(message).toContain('.env.example');
  });
});

describe('unit: each process reads its own variables', () => {
  const secrets = {
    SESSION_SECRET: 'short-session-secret',
    TOTP_KEYS: 'short-totp-key',
    ADMIN_TOKEN: 'short-admin-token',
    MYSQL_URL: 'mysql://root:hunter2@db:3306/usermgr',
    S3_BUCKET: 'pics',
    S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    S3_SECRET_ACCESS_KEY: 'aws-secret-access-key',
  };

  it('should start the HTTP server whatever the secrets are, and hold none of them', () => {
    const text = JSON.stringify(loadHttpConfig(secrets));
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
  });

  it('should refuse short secrets in the TCP server without echoing them', () => {
    const message = failure(() => loadTcpConfig(secrets));
    expect(message).toContain('ADMIN_TOKEN="(hidden)": expected at least 32 characters');
    expect(message).toContain('SESSION_SECRET="(hidden)": expected secrets of at least 32');
    expect(message).toContain('TOTP_KEYS="(hidden)": expected keys of at least 32 characters');
    expect(message).not.toContain('short-admin-token');
    expect(message).not.toContain('short-totp-key');
    expect(message).not.toContain('short-session-secret');
  });

  it('should not read the HTTP limits in the TCP server', () => {
    expect(() =>
      loadTcpConfig({ HTTP_MAX_JSON_BYTES: 'lots', TRUST_PROXY: 'maybe' }),
    ).not.toThrow();
    expect(() => loadHttpConfig({ CACHE_TTL_S: 'forever', WORKER_ID: '5000' })).not.toThrow();
  });

  it('should check both sides for npm start, naming a shared variable once', () => {
    const message = failure(() =>
      loadLauncherConfig({ LOG_LEVEL: 'loud', HTTP_PORT: 'x', WORKER_ID: '5000' }),
    );
    expect(message.match(/LOG_LEVEL=/g)).toHaveLength(1);
    expect(message).toContain('HTTP_PORT="x"');
    expect(message).toContain('WORKER_ID="5000"');
    const config = loadLauncherConfig({ TCP_PORT: '7000', HTTP_PROCESSES: '3' });
    expect(config.tcp.port).toBe(7000);
    expect(config.http.processes).toBe(3);
  });

  it('should refuse a remembered session shorter than a plain one, a key prefix with a hash tag, and a call deadline under 100 ms', () => {
    expect(
      failure(() => loadTcpConfig({ SESSION_TTL_S: '7200', SESSION_REMEMBER_TTL_S: '60' })),
    ).toContain('SESSION_REMEMBER_TTL_S="60": expected at least SESSION_TTL_S (7200)');
    // Regression (an operator's audit): a refused SESSION_TTL_S also failed the check
    // against its default, naming a value nobody had set.
    const refused = failure(() =>
      loadTcpConfig({ SESSION_TTL_S: '40', SESSION_REMEMBER_TTL_S: '80' }),
    );
    expect(refused).toContain('SESSION_TTL_S="40"');
    expect(refused).not.toContain('SESSION_REMEMBER_TTL_S');
    expect(failure(() => loadTcpConfig({ REDIS_KEY_PREFIX: 'a{b}:' }))).toContain(
      'REDIS_KEY_PREFIX="a{b}:": expected a prefix without { or }',
    );
    expect(failure(() => loadHttpConfig({ RPC_TIMEOUT_MS: '20' }))).toContain(
      'RPC_TIMEOUT_MS="20": expected an integer from 100 to 600000',
    );
    expect(() =>
      loadTcpConfig({ SESSION_TTL_S: '7200', SESSION_REMEMBER_TTL_S: '7200' }),
    ).not.toThrow();
  });

  // Regression (an operator's first day): with both, the cluster won without a word.
  it('should refuse REDIS_URL and REDIS_CLUSTER_NODES together, and take either alone', () => {
    const both = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: 'a:7000,b:7001' };
    expect(failure(() => loadTcpConfig(both))).toContain(
      'REDIS_CLUSTER_NODES="a:7000,b:7001": expected one of REDIS_URL (one Redis) and REDIS_CLUSTER_NODES (a Redis Cluster), not both',
    );
    expect(loadTcpConfig({ REDIS_URL: both.REDIS_URL }).redis.url).toBe(both.REDIS_URL);
    expect(
      loadTcpConfig({ REDIS_CLUSTER_NODES: both.REDIS_CLUSTER_NODES }).redis.clusterNodes,
    ).toEqual(['a:7000', 'b:7001']);
  });

  it('should refuse two of the ports npm start listens on set to one number, naming both', () => {
    expect(
      failure(() => loadLauncherConfig({ HTTP_PORT: '31003', TCP_METRICS_PORT: '31003' })),
    ).toContain('TCP_METRICS_PORT="31003": expected a port of its own: HTTP_PORT is 31003 too');
    expect(
      failure(() => loadLauncherConfig({ HTTP_PORT: '31000', HTTP_METRICS_PORT: '31000' })),
    ).toContain('HTTP_METRICS_PORT="31000": expected a port of its own: HTTP_PORT is 31000 too');
    expect(failure(() => loadLauncherConfig({ TCP_PORT: '9465' }))).toContain(
      'TCP_PORT="9465": expected a port of its own: HTTP_METRICS_PORT is 9465 too',
    );
    // 0 is any free port, each its own.
    expect(() => loadLauncherConfig({ HTTP_PORT: '0', TCP_PORT: '0' })).not.toThrow();
  });
});

describe('unit: TCP_SHARED_SECRET', () => {
  const secret = 'a-shared-secret-of-at-least-32-characters';

  it('should refuse a TCP server on a non-loopback address without a secret, saying both ways out', () => {
    const message = failure(() => loadTcpConfig({ TCP_HOST: '0.0.0.0' }));
    expect(message).toContain('TCP_HOST="0.0.0.0": expected a loopback address');
    expect(message).toContain('TCP_SHARED_SECRET');
    expect(message).toContain('TCP_HOST=127.0.0.1');
    expect(
      loadTcpConfig({ TCP_HOST: '0.0.0.0', TCP_SHARED_SECRET: secret }).tcp.sharedSecrets,
    ).toEqual([secret]);
    for (const host of ['127.0.0.1', '127.0.0.53', '::1', '[::1]', 'localhost'])
      expect(loadTcpConfig({ TCP_HOST: host }).tcp.sharedSecrets).toEqual([]);
    for (const host of ['::', '10.0.0.5', 'tcp.internal', '::ffff:10.0.0.1', '[::]'])
      expect(() => loadTcpConfig({ TCP_HOST: host })).toThrow('expected a loopback address');
  });

  // An attack audit: `[::1]` passed as loopback, then could not be bound (a stack trace).
  it('should take an IPv6 host written in brackets, as in a URL, without them', () => {
    const tcp = loadTcpConfig({ TCP_HOST: '[::1]', TCP_PORT: '7000' });
    expect(tcp.tcp.host).toBe('::1');
    expect(loadHttpConfig({ HTTP_HOST: '[::1]' }).http.host).toBe('::1');
    expect(loadHttpConfig({ TCP_HOST: '[::1]', TCP_PORT: '7000' }).pool.addresses).toEqual([
      '[::1]:7000',
    ]);
  });

  it('should refuse a short secret on either side without echoing it', () => {
    for (const load of [loadTcpConfig, loadHttpConfig]) {
      const message = failure(() => load({ TCP_SHARED_SECRET: `${secret},short-one` }));
      expect(message).toContain('TCP_SHARED_SECRET="(hidden)": expected secrets of at least 32');
      expect(message).not.toContain('short-one');
    }
  });

  it('should let TCP servers accept every secret listed and the pool prove with the first', () => {
    const older = 'an-older-shared-secret-of-32-characters-too';
    const env = { TCP_SHARED_SECRET: `${secret}, ${older}` };
    expect(loadTcpConfig(env).tcp.sharedSecrets).toEqual([secret, older]);
    expect(loadHttpConfig(env).pool.sharedSecret).toBe(secret);
    expect(loadHttpConfig({}).pool.sharedSecret).toBe('');
  });
});

describe('unit: configuration documentation', () => {
  const declared = declaredVariables();

  it('should declare each variable once', () => {
    const names = declared.map((v) => v.name);
    expect(names.length).toBeGreaterThan(50);
    expect(new Set(names).size).toBe(names.length);
    for (const variable of declared) expect(variable.doc.length).toBeGreaterThan(3);
  });

  it('should list exactly the declared variables in .env.example, with their defaults', async () => {
    const example = await Bun.file(`${import.meta.dir}/../../.env.example`).text();
    const listed = new Map(
      [...example.matchAll(/^#?\s*([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1], m[2]?.trim()]),
    );
    expect([...listed.keys()].sort()).toEqual(declared.map((v) => v.name).sort());
    const wrong = declared
      .filter((v) => v.shown !== null && listed.get(v.name) !== v.shown)
      .map((v) => `${v.name}=${listed.get(v.name)} (declared default: ${v.shown})`);
    expect(wrong).toEqual([]);
  });

  it('should have every declared variable in the README configuration table', async () => {
    const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();
    const table = readme.slice(readme.indexOf('## Configuration'));
    const missing = declared.map((v) => v.name).filter((name) => !table.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('unit: picture and upload settings', () => {
  it('should default to 5 MiB uploads, 40 megapixels and local files', () => {
    expect(loadHttpConfig({}).http.maxUploadBytes).toBe(5 * 1024 * 1024);
    const config = loadTcpConfig({});
    expect(config.pictures.maxPixels).toBe(40_000_000);
    expect(config.pictures.s3.bucket).toBe('');
  });

  it('should refuse an upload limit that cannot fit in one frame', () => {
    expect(() =>
      loadHttpConfig({
        HTTP_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024),
        MAX_FRAME_BYTES: '8388608',
      }),
    ).toThrow('HTTP_MAX_UPLOAD_BYTES="8388608": expected at most MAX_FRAME_BYTES - 65536');
    expect(
      loadHttpConfig({ HTTP_MAX_UPLOAD_BYTES: '10000000', MAX_FRAME_BYTES: '16777216' }).http
        .maxUploadBytes,
    ).toBe(10_000_000);
  });

  it('should want credentials with an S3 bucket, and a prefix that is a plain path', () => {
    expect(() => loadTcpConfig({ S3_BUCKET: 'pics' })).toThrow(
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY',
    );
    expect(() => loadTcpConfig({ S3_PREFIX: 'a b' })).toThrow('S3_PREFIX="a b"');
    const s3 = loadTcpConfig({
      S3_BUCKET: 'pics',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
    }).pictures.s3;
    expect(s3).toMatchObject({ bucket: 'pics', prefix: 'pictures/', timeoutMs: 5000 });
  });
});

describe('unit: MYSQL_URL and REDIS_URL', () => {
  const mysql = 'a URL like mysql://user:pass@host:3306/usermgr';
  const redis = 'a URL like redis://host:6379';
  it.each([
    ['MYSQL_URL', 'not a url', `"(hidden)": expected ${mysql} (not a URL)`],
    ['MYSQL_URL', '127.0.0.1:3306/usermgr', `"(hidden)": expected ${mysql} (not a URL)`],
    [
      'MYSQL_URL',
      'mysq://root:pw@db/usermgr',
      `"mysq://root:***@db/usermgr": expected ${mysql} (the scheme is mysq)`,
    ],
    [
      'MYSQL_URL',
      'mysql://root:pw@db:3306',
      `"mysql://root:***@db:3306": expected ${mysql} (no database name after the port)`,
    ],
    [
      'MYSQL_URL',
      'mysql://root@db:3306/',
      `"mysql://root@db:3306/": expected ${mysql} (no database name after the port)`,
    ],
    ['MYSQL_URL', 'mysql:///usermgr', `"mysql:///usermgr": expected ${mysql} (no host)`],
    [
      'REDIS_URL',
      'http://127.0.0.1:6379',
      `"http://127.0.0.1:6379/": expected ${redis} (the scheme is http)`,
    ],
    [
      'REDIS_URL',
      'localhost:6379',
      `"localhost:6379": expected ${redis} (the scheme is localhost)`,
    ],
    ['REDIS_URL', 'redis://:pw@', `"(hidden)": expected ${redis} (not a URL)`],
  ])('should refuse %s=%s in one line, without its password', (name, value, expected) => {
    const message = failure(() => loadTcpConfig({ [name]: value }));
    expect(message).toContain(`${name}=${expected}`);
    expect(message).not.toContain(':pw@');
  });

  it('should take MySQL or MariaDB URLs with a database, and Redis URLs plain or TLS', () => {
    const config = loadTcpConfig({
      MYSQL_URL: 'mariadb://u:p%40ss@db.internal:3307/users_1',
      REDIS_URL: 'rediss://:pw@cache:6380/2',
    });
    expect(config.mysql.url).toBe('mariadb://u:p%40ss@db.internal:3307/users_1');
    expect(config.redis.url).toBe('rediss://:pw@cache:6380/2');
    expect(loadTcpConfig({ MYSQL_URL: 'mysql://root@127.0.0.1/test' }).mysql.url).toBe(
      'mysql://root@127.0.0.1/test',
    );
  });
});

describe('unit: MariaDB replicas', () => {
  it('should refuse replicas without MYSQL_URL, saying that SQLite has none', () => {
    const message = failure(() =>
      loadTcpConfig({ MYSQL_REPLICA_URLS: 'mysql://reader:s3cret@replica1:3306/usermgr' }),
    );
    expect(message).toContain(
      'MYSQL_REPLICA_URLS="mysql://reader:***@replica1:3306/usermgr": expected MYSQL_URL set too',
    );
    expect(message).toContain('SQLite has none');
    expect(message).not.toContain('s3cret');
  });

  it('should read a comma-separated list of URLs, and refuse what is not one', () => {
    const primary = { MYSQL_URL: 'mysql://root@primary:3306/usermgr' };
    const config = loadTcpConfig({
      ...primary,
      MYSQL_REPLICA_URLS: 'mysql://r@replica1/usermgr, mysql://r@replica2:3307/usermgr',
    });
    expect(config.mysql.replicaUrls).toEqual([
      'mysql://r@replica1/usermgr',
      'mysql://r@replica2:3307/usermgr',
    ]);
    expect(config.mysql).toMatchObject({ replicaMaxLagMs: 2000, replicaCheckMs: 500 });
    expect(loadTcpConfig(primary).mysql.replicaUrls).toEqual([]);
    expect(
      failure(() => loadTcpConfig({ ...primary, MYSQL_REPLICA_URLS: 'replica1:3306' })),
    ).toContain(
      'MYSQL_REPLICA_URLS="replica1:3306": expected comma-separated URLs like mysql://user:pass@replica1:3306/usermgr (the scheme is replica1)',
    );
    const noDatabase = 'mysql://r:s3cret@replica1/usermgr,mysql://r:s3cret@replica2:3307';
    const message = failure(() => loadTcpConfig({ ...primary, MYSQL_REPLICA_URLS: noDatabase }));
    expect(message).toContain(
      'MYSQL_REPLICA_URLS="mysql://r:***@replica1/usermgr,mysql://r:***@replica2:3307": expected comma-separated URLs like mysql://user:pass@replica1:3306/usermgr (no database name after the port)',
    );
    expect(message).not.toContain('s3cret');
  });

  it('should want replicas checked at least twice within the lag bound', () => {
    expect(failure(() => loadTcpConfig({ MYSQL_REPLICA_MAX_LAG_MS: '500' }))).toContain(
      'MYSQL_REPLICA_CHECK_MS="500": expected at most half of MYSQL_REPLICA_MAX_LAG_MS (500)',
    );
    const config = loadTcpConfig({
      MYSQL_REPLICA_MAX_LAG_MS: '500',
      MYSQL_REPLICA_CHECK_MS: '250',
    });
    expect(config.mysql.replicaCheckMs).toBe(250);
  });
});
