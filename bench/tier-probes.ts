/**
 * What bench/tier-costs.ts reads around each measured window: the CPU time of
 * each tier's processes (the TCP server's slow-hash threads apart from the
 * rest of it), Redis's command counts and memory, MariaDB's statement counts,
 * and the TCP server's own counters. Counts are exact; CPU times come from
 * /proc in clock ticks (10 ms).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type Redis from 'ioredis';
import type mysql from 'mysql2/promise';
import { HASH_THREAD_NAME } from '../src/core/hash-threads.ts';

const CLOCK_TICKS_PER_S = 100;

/** utime + stime in seconds, and the thread's name, of one /proc stat line. */
function parseStat(stat: string): { cpuS: number; name: string } {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    cpuS: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S,
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
  };
}

function readStat(path: string): { cpuS: number; name: string } | null {
  try {
    return parseStat(readFileSync(path, 'utf8'));
  } catch {
    return null; // the process or thread is gone
  }
}

/** CPU seconds of a whole process (every thread, live or ended). */
export function processCpuS(pid: number): number {
  return readStat(`/proc/${pid}/stat`)?.cpuS ?? 0;
}

/**
 * CPU seconds of a process's live slow-hash threads (named HASH_THREAD_NAME:
 * some run at nice 19, some at normal priority, src/core/passwords.ts).
 */
export function hashThreadsCpuS(pid: number): number {
  let total = 0;
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    const stat = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (stat && stat.name === HASH_THREAD_NAME) total += stat.cpuS;
  }
  return total;
}

export type Counts = Record<string, number>;

/** b - a for every key of b, divided by n; keys that did not move are left out. */
export function perRequest(a: Counts, b: Counts, n: number, digits = 3): Counts {
  const out: Counts = {};
  const scale = 10 ** digits;
  for (const [key, value] of Object.entries(b)) {
    const delta = value - (a[key] ?? 0);
    if (delta > 0 && n > 0) out[key] = Math.round((delta / n) * scale) / scale;
  }
  return out;
}

/** Calls by command from INFO commandstats (`get`, `set`, `evalsha`, ...). */
export async function redisCommands(client: Redis): Promise<Counts> {
  const text = await client.info('commandstats');
  const out: Counts = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    out[match[1] as string] = Number(match[2]);
  return out;
}

/** used_memory (bytes) and the number of keys in db 0. */
export async function redisMemory(client: Redis): Promise<{ usedBytes: number; keys: number }> {
  const memory = await client.info('memory');
  return {
    usedBytes: Number(/^used_memory:(\d+)/m.exec(memory)?.[1] ?? 0),
    keys: await client.dbsize(),
  };
}

/** Up to `limit` keys matching `pattern`. */
export async function scanKeys(client: Redis, pattern: string, limit: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0' && keys.length < limit);
  return keys.slice(0, limit);
}

/** The mean of MEMORY USAGE over `keys` (a key that is gone counts as absent). */
export async function redisKeyBytes(client: Redis, keys: string[]): Promise<number> {
  const sizes = (await Promise.all(keys.map((key) => client.memory('USAGE', key)))).filter(
    (size): size is number => typeof size === 'number',
  );
  return sizes.length ? Math.round(sizes.reduce((s, x) => s + x, 0) / sizes.length) : 0;
}

/** MariaDB's counters that say what the clients asked and what it wrote. */
const MYSQL_COUNTERS = [
  'Com_select',
  'Com_insert',
  'Com_update',
  'Com_delete',
  'Com_replace',
  'Com_begin',
  'Com_commit',
  'Com_stmt_execute',
  'Innodb_rows_read',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Innodb_rows_deleted',
  'Innodb_os_log_written',
  'Binlog_bytes_written',
];

export async function mysqlCounters(connection: mysql.Connection): Promise<Counts> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS');
  const wanted = new Set(MYSQL_COUNTERS);
  const out: Counts = {};
  for (const row of rows) {
    const name = row.Variable_name as string;
    if (wanted.has(name)) out[name] = Number(row.Value);
  }
  return out;
}

/**
 * The TCP server's counters of interest, from its /metrics: calls by call
 * (`call:<name>` and `fail:<name>` for statuses other than OK), store
 * operations (`store:<operation>`), cache and memo lookups, slow hashes.
 */
export async function tcpCounters(metricsUrl: string): Promise<Counts> {
  const text = await (await fetch(metricsUrl)).text();
  const out: Counts = {};
  const add = (key: string, value: number) => {
    out[key] = (out[key] ?? 0) + value;
  };
  for (const line of text.split('\n')) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match as unknown as [string, string, string, string];
    const label = (key: string) => new RegExp(`${key}="([^"]*)"`).exec(labels)?.[1] ?? '';
    const n = Number(value);
    if (name === 'usermgr_tcp_call_duration_seconds_count') {
      add(`call:${label('call')}`, n);
      if (label('status') !== 'OK') add(`fail:${label('call')}`, n);
    } else if (name === 'usermgr_store_duration_seconds_count') {
      add(`store:${label('operation')}`, n);
    } else if (name === 'usermgr_cache_lookups_total') {
      add(`cache:${label('result')}`, n);
    } else if (name === 'usermgr_memo_lookups_total') {
      add(`memo:${label('result')}`, n);
    } else if (name === 'usermgr_hash_total') {
      add(`hash:${label('kind')}`, n);
    }
  }
  return out;
}
