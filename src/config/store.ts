/** Where users are stored: MariaDB/MySQL when MYSQL_URL is set, else SQLite under DATA_DIR. */
import type { Reader } from './reader.ts';
import { int, text, url, urls } from './variable.ts';

export const dataDirVariable = text('DATA_DIR', {
  default: './data',
  doc: 'SQLite file, generated session secret, local pictures',
});

/** What mysql2 reads as MySQL or MariaDB (it ignores the scheme; a typo must not pass). */
const MYSQL_SCHEMES = ['mysql:', 'mariadb:'];

export const mysqlVariables = {
  url: url('MYSQL_URL', {
    schemes: MYSQL_SCHEMES,
    example: 'mysql://user:pass@host:3306/usermgr',
    named: true,
    doc: 'mysql://user:pass@host:3306/db; unset: an embedded SQLite file under DATA_DIR',
  }),
  poolSize: int('MYSQL_POOL_SIZE', { default: 16, min: 1, max: 1000, doc: 'connections' }),
  queueLimit: int('MYSQL_QUEUE_LIMIT', {
    default: 2000,
    min: 0,
    max: 1_000_000,
    doc: 'queries waiting for a connection; beyond, 503',
  }),
  queueTimeoutMs: int('MYSQL_QUEUE_TIMEOUT_MS', {
    default: 1000,
    min: 1,
    max: 60_000,
    doc: 'how long a query may wait for a connection',
  }),
  queryTimeoutMs: int('MYSQL_QUERY_TIMEOUT_MS', {
    default: 3000,
    min: 1,
    max: 600_000,
    doc: 'per statement',
  }),
  connectTimeoutMs: int('MYSQL_CONNECT_TIMEOUT_MS', {
    default: 2000,
    min: 100,
    max: 60_000,
    doc: 'per connection attempt',
  }),
  replicaUrls: urls('MYSQL_REPLICA_URLS', {
    schemes: MYSQL_SCHEMES,
    example: 'mysql://user:pass@replica1:3306/usermgr',
    named: true,
    doc: 'MariaDB replicas of MYSQL_URL, comma-separated URLs; reads that tolerate lag (admin listings) go there',
  }),
  replicaMaxLagMs: int('MYSQL_REPLICA_MAX_LAG_MS', {
    default: 2000,
    min: 100,
    max: 3_600_000,
    doc: 'a replica further behind the primary than this serves nothing',
  }),
  replicaCheckMs: int('MYSQL_REPLICA_CHECK_MS', {
    default: 500,
    min: 10,
    max: 1_800_000,
    doc: 'how often each replica is checked (reachable, and how far behind)',
  }),
};

export function readStore(read: Reader) {
  const mysql = read.all(mysqlVariables);
  const replicas = mysqlVariables.replicaUrls;
  if (mysql.replicaUrls.length > 0 && mysql.url === '') {
    read.problem(
      replicas,
      read.raw(replicas),
      'MYSQL_URL set too: replicas belong to a MariaDB primary, and SQLite has none',
    );
  }
  if (mysql.replicaCheckMs * 2 > mysql.replicaMaxLagMs) {
    const check = mysqlVariables.replicaCheckMs;
    read.problem(
      check,
      read.raw(check) || String(mysql.replicaCheckMs),
      `at most half of MYSQL_REPLICA_MAX_LAG_MS (${mysql.replicaMaxLagMs}), so a healthy replica is checked twice within the bound`,
    );
  }
  return { dataDir: read.read(dataDirVariable), mysql };
}
