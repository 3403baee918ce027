/**
 * `npm run seed -- --users 10000000 [--batch 500000] [--parallel 2]`
 *
 * Fills the MySQL database at MYSQL_URL with test users, fast: rows are
 * generated in this process and streamed with LOAD DATA LOCAL INFILE (no
 * temporary file), in batches loaded by `--parallel` connections at once.
 *
 * User i (1-based) has id i, username `user<i>`, nickname `User <i>` and
 * password `Passw0rd-<i mod 1000>`. Hashing 10 million passwords with
 * argon2id would take days (about 40 per second on two cores), so the 1000
 * distinct passwords are hashed once per run, each with its own salt, and
 * every user gets the hash of their password: real argon2id PHC strings,
 * shared by the users who share a password. Seeded ids (1..N) are far below
 * the snowflake ids the server gives new users, so both coexist.
 *
 * Creates the database named in MYSQL_URL when it is missing.
 *
 * Idempotent: a batch is one LOAD DATA statement, so it is all there or not at
 * all; batches whose last id exists are skipped, and a finished seed says so.
 *
 * Into an empty table it loads without the secondary indexes and builds them
 * afterwards from sorted data: inserting 10M usernames one by one into the
 * unique index scatters writes over the whole tree, and was the largest cost.
 * A run interrupted in between finds the indexes missing and builds them when
 * it finishes. (While they are missing, the table is not for serving.)
 * It raises innodb_buffer_pool_size (dynamic on MySQL 5.7+ and MariaDB) and
 * the redo log (where dynamic) when the account may, and relaxes redo
 * flushing for the duration of the load only, restoring it afterwards; it
 * prints what it did.
 */
import { totalmem } from 'node:os';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import { silentLogger } from '../src/log.ts';
import { openStore } from '../src/store/open.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000000' },
    batch: { type: 'string', default: '500000' },
    parallel: { type: 'string', default: '2' },
    'buffer-pool-mib': { type: 'string', default: '' },
    tune: { type: 'string', default: '' },
  },
});
const total = Number(values.users);
const batchSize = Number(values.batch);
const parallel = Number(values.parallel);
if (
  !Number.isInteger(total) ||
  total < 1 ||
  !Number.isInteger(batchSize) ||
  batchSize < 1 ||
  parallel < 1
) {
  console.error(
    'usage: npm run seed -- --users N [--batch N] [--parallel N] [--tune yes|no] [--buffer-pool-mib N]',
  );
  process.exit(2);
}

/** The secondary indexes of sql/mysql/001_users.sql, as ALTER TABLE clauses. */
const SECONDARY_INDEXES = {
  users_username_uq: 'ADD UNIQUE KEY users_username_uq (username)',
  users_picture: 'ADD KEY users_picture (picture)',
} as const;

const config = loadTcpConfig();
if (config.mysql.url === '') {
  console.error(
    'MYSQL_URL is not set: e.g. MYSQL_URL=mysql://root@127.0.0.1:3306/usermgr_bench npm run seed',
  );
  process.exit(2);
}

// The database, when it is not there yet: the seed is the first thing to run
// against a new server, and a bench database is ours to create.
{
  const url = new URL(config.mysql.url);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    console.error(`MYSQL_URL must name a database of letters, digits and _: got '${database}'`);
    process.exit(2);
  }
  url.pathname = '/';
  const server = await mysql.createConnection({ uri: url.toString() });
  const [result] = await server.query(
    `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
  );
  if ((result as { warningStatus?: number }).warningStatus === 0) {
    console.log(`created database ${database}`);
  }
  await server.end();
}

// The tables, exactly as the TCP server would create them.
const store = await openStore(
  { mysqlUrl: config.mysql.url, dataDir: config.dataDir, mysql: config.mysql },
  silentLogger,
);
await store.close();

const admin = await mysql.createConnection({
  uri: config.mysql.url,
  supportBigNumbers: true,
  bigNumberStrings: true,
});
const batches: [number, number][] = [];
for (let first = 1; first <= total; first += batchSize)
  batches.push([first, Math.min(total, first + batchSize - 1)]);
const pending: [number, number][] = [];
for (const batch of batches) {
  const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT 1 FROM users WHERE id = ?', [
    batch[1],
  ]);
  if (rows.length === 0) pending.push(batch);
}
if (pending.length === 0) {
  await buildMissingIndexes(admin);
  console.log(`already seeded: users 1..${total} are there. Nothing to do.`);
  await admin.end();
  process.exit(0);
}
const toLoad = pending.reduce((sum, [a, b]) => sum + b - a + 1, 0);
const [[{ empty }]] = (await admin.query(
  'SELECT NOT EXISTS (SELECT 1 FROM users) AS empty',
)) as unknown as [[{ empty: number }]];
if (empty) {
  await admin.query('ALTER TABLE users DROP INDEX users_username_uq, DROP INDEX users_picture');
  console.log('empty table: loading without the secondary indexes, building them at the end');
}
console.log(
  `seeding ${toLoad.toLocaleString()} users (${pending.length} batches of up to ${batchSize.toLocaleString()}, ${parallel} at once)`,
);

const runStarted = performance.now();
/**
 * The server-wide settings tune() raises outlive the run (until the server
 * restarts), on a MariaDB others may share: only for a load big enough to need
 * them, or when asked (`--tune yes|no`). A load of 20,000 users raised a
 * shared server's buffer pool to 6 GiB (an operator audit).
 */
const TUNE_FROM_USERS = 1_000_000;
const tuning = values.tune === '' ? total >= TUNE_FROM_USERS : values.tune === 'yes';
if (!tuning) console.log('left the server settings alone (--tune yes to raise them)');
const restore = tuning ? await tune(admin) : async () => {};
try {
  const hashes = await hashPasswords(1000);
  const now = Date.now();
  let loaded = 0;
  const started = performance.now();
  const progress = setInterval(() => report(loaded, toLoad, started), 2000);
  const queue = [...pending];
  await Promise.all(
    Array.from({ length: Math.min(parallel, queue.length) }, async () => {
      const conn = await mysql.createConnection({ uri: config.mysql.url, flags: ['+LOCAL_FILES'] });
      await conn.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
      try {
        for (let batch = queue.shift(); batch !== undefined; batch = queue.shift()) {
          const [first, last] = batch;
          await conn.query({
            sql:
              "LOAD DATA LOCAL INFILE 'seed.tsv' INTO TABLE users CHARACTER SET ascii " +
              "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' " +
              '(id, username, nickname, password_hash, picture, sessions_valid_after, created_at, updated_at)',
            infileStreamFactory: () =>
              Readable.from(rows(first, last, hashes, now, (n) => (loaded += n))),
          });
        }
      } finally {
        await conn.end();
      }
    }),
  );
  clearInterval(progress);
  report(loaded, toLoad, started);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `loaded ${toLoad.toLocaleString()} users in ${seconds.toFixed(1)} s (${Math.round(toLoad / seconds).toLocaleString()} rows/s)`,
  );
  await buildMissingIndexes(admin);
  const all = (performance.now() - runStarted) / 1000;
  console.log(
    `done: ${toLoad.toLocaleString()} users seeded in ${all.toFixed(1)} s in all (hashing, loading, indexing)`,
  );
} finally {
  await restore();
  await admin.end();
}

/** Builds the secondary indexes the migration defines, where they are missing. */
async function buildMissingIndexes(conn: mysql.Connection): Promise<void> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'",
  );
  const present = new Set(rows.map((r) => r.name as string));
  const missing = Object.entries(SECONDARY_INDEXES).filter(([name]) => !present.has(name));
  if (missing.length === 0) return;
  const started = performance.now();
  await conn.query(`ALTER TABLE users ${missing.map(([, clause]) => clause).join(', ')}`);
  console.log(
    `built ${missing.map(([name]) => name).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/** TSV lines for users first..last, in chunks of about 1 MiB. */
function* rows(
  first: number,
  last: number,
  hashes: string[],
  now: number,
  count: (n: number) => void,
) {
  const lines: string[] = [];
  let size = 0;
  for (let i = first; i <= last; i++) {
    const line = `${i}\tuser${i}\tUser ${i}\t${hashes[i % 1000]}\t\t0\t${now}\t${now}\n`;
    lines.push(line);
    size += line.length;
    if (size >= 1 << 20) {
      yield Buffer.from(lines.join(''));
      count(lines.length);
      lines.length = 0;
      size = 0;
    }
  }
  if (lines.length > 0) {
    yield Buffer.from(lines.join(''));
    count(lines.length);
  }
}

/** The argon2id hash of `Passw0rd-<j>` for j in 0..n-1, each with its own salt. */
async function hashPasswords(n: number): Promise<string[]> {
  const { memoryKiB, timeCost } = config.passwords;
  const started = performance.now();
  const hashes: string[] = new Array(n);
  let next = 0;
  const workers = Math.max(1, navigator.hardwareConcurrency);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let j = next++; j < n; j = next++) {
        hashes[j] = await Bun.password.hash(`Passw0rd-${j}`, {
          algorithm: 'argon2id',
          memoryCost: memoryKiB,
          timeCost,
        });
      }
    }),
  );
  console.log(
    `hashed ${n} passwords (argon2id m=${memoryKiB},t=${timeCost}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return hashes;
}

/** Makes the server fit for a bulk load where allowed; returns how to undo the temporary part. */
async function tune(conn: mysql.Connection): Promise<() => Promise<void>> {
  const [[vars]] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT @@innodb_buffer_pool_size AS pool, @@innodb_flush_log_at_trx_commit AS flush',
  );
  const pool = Number(vars?.pool);
  const flush = Number(vars?.flush);
  const wanted = values['buffer-pool-mib']
    ? Number(values['buffer-pool-mib']) * 2 ** 20
    : Math.min(8 * 2 ** 30, Math.floor(totalmem() / 4));
  if (wanted > pool) {
    try {
      await conn.query('SET GLOBAL innodb_buffer_pool_size = ?', [wanted]);
      const [[after]] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT @@innodb_buffer_pool_size AS pool',
      );
      const now = Number(after?.pool);
      if (now > pool) {
        console.log(
          `raised innodb_buffer_pool_size from ${mib(pool)} to ${mib(now)} (it stays until the server restarts with its own config)`,
        );
      }
    } catch (err) {
      console.log(`kept innodb_buffer_pool_size at ${mib(pool)}: ${(err as Error).message}`);
    }
  }
  await raiseRedoLog(conn);
  let relaxed = false;
  if (flush !== 2) {
    try {
      await conn.query('SET GLOBAL innodb_flush_log_at_trx_commit = 2');
      relaxed = true;
      console.log(`set innodb_flush_log_at_trx_commit from ${flush} to 2 for the load`);
    } catch (err) {
      console.log(`kept innodb_flush_log_at_trx_commit at ${flush}: ${(err as Error).message}`);
    }
  }
  return async () => {
    if (!relaxed) return;
    await conn.query('SET GLOBAL innodb_flush_log_at_trx_commit = ?', [flush]);
    console.log(`restored innodb_flush_log_at_trx_commit to ${flush}`);
  };
}

/**
 * A small redo log makes InnoDB checkpoint again and again during a bulk load
 * (the default 96 MiB holds a few seconds of it): raising it to 2 GiB cut the
 * load of 10M rows by about a third. Dynamic on MariaDB 10.9+
 * (innodb_log_file_size) and MySQL 8.0.30+ (innodb_redo_log_capacity).
 */
async function raiseRedoLog(conn: mysql.Connection): Promise<void> {
  const wanted = 2 * 2 ** 30;
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_redo_log_capacity', 'innodb_log_file_size')",
  );
  const vars = new Map(rows.map((row) => [String(row.Variable_name), Number(row.Value)]));
  const name = vars.has('innodb_redo_log_capacity')
    ? 'innodb_redo_log_capacity'
    : 'innodb_log_file_size';
  const size = vars.get(name);
  if (size === undefined || size >= wanted) return;
  try {
    await conn.query(`SET GLOBAL ${name} = ?`, [wanted]);
    console.log(
      `raised ${name} from ${mib(size)} to ${mib(wanted)} (it stays until the server restarts with its own config)`,
    );
  } catch (err) {
    console.log(`kept ${name} at ${mib(size)}: ${(err as Error).message}`);
  }
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

function report(loaded: number, target: number, started: number): void {
  const seconds = (performance.now() - started) / 1000;
  const rate = loaded / Math.max(seconds, 0.001);
  const eta = rate > 0 ? (target - loaded) / rate : 0;
  console.log(
    `${loaded.toLocaleString()} / ${target.toLocaleString()} rows, ${Math.round(rate).toLocaleString()} rows/s, ETA ${eta.toFixed(0)} s`,
  );
}
