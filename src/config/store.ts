/** Where users are stored: MariaDB/MySQL when MYSQL_URL is set, else SQLite under DATA_DIR. */
import type { Reader } from './reader.ts';
import { int, text } from './variable.ts';

export const dataDirVariable = text('DATA_DIR', {
  default: './data',
  doc: 'SQLite file, generated session secret, local pictures',
});

export const mysqlVariables = {
  url: text('MYSQL_URL', {
    default: '',
    secret: true,
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
};

export function readStore(read: Reader) {
  return { dataDir: read.read(dataDirVariable), mysql: read.all(mysqlVariables) };
}
