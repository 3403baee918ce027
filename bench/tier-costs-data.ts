/**
 * The figures bench/tier-costs.ts measures, as saved in bench/tier-costs.json,
 * and the one Markdown table of them that bench/RESULTS.md and
 * docs/SCALING.md both show. Everything else in the capacity model
 * (bench/capacity-model.ts) is computed from these and from stated
 * assumptions.
 */
import type { Counts } from './tier-probes.ts';

/** Where a request's CPU went: the processes of each tier. */
export const TIERS = ['http', 'tcp', 'argon2', 'redis', 'mariadb', 'loadgen'] as const;
export type Tier = (typeof TIERS)[number];

export const KINDS = [
  'login-cached',
  'login-refill',
  'login-cold',
  'profile-read',
  'logout',
  'nickname-update',
  'sign-up',
] as const;
export type Kind = (typeof KINDS)[number];

export interface KindFigures {
  /** How the load was made: wrk at N connections for D s, or a closed loop of exactly N requests. */
  driver: string;
  /** Per run: requests the TCP server answered in the window. */
  requests: number[];
  /** Per run: answers other than OK (must be 0). */
  failures: number[];
  /** Per run: requests per second over the window. */
  rps: number[];
  /** Per run and tier: CPU microseconds per request. */
  cpuUs: Record<Tier, number[]>;
  /** Medians over the runs, per request. */
  redisCommands: Counts;
  mysqlCounters: Counts;
  /** TCP server counters per request: store operations, cache and memo lookups, slow hashes. */
  tcpCounters: Counts;
  /** Redis keys and used_memory added per request (median over runs). */
  redisKeys: number;
  redisBytes: number;
}

/** One reload of the revoked-session mirror (a lost Redis shard), per live revoked session. */
export interface Reload {
  rows: number;
  /** Loaded within 60 s (20 s before 2026-12-04 16:00). */
  ok: boolean;
  wallMs: number;
  tcpUsPerRow: number;
  redisUsPerRow: number;
  mariadbUsPerRow: number;
  /** Growth of the TCP server's resident memory during the reload. */
  tcpBytesPerRow: number;
  /** The TCP server's resident memory before the reload and at its peak (absent before 2026-12-04 16:00). */
  tcpRssMb?: [number, number];
}

export interface TierCosts {
  commit: string;
  date: string;
  command: string;
  machine: { cores: number; loadBefore: number[]; loadAfter: number[] };
  runs: number;
  seededUsers: number;
  kinds: Record<Kind, KindFigures>;
  sizes: {
    /** MEMORY USAGE of a cached user record (mean over a sample). */
    redisUserKeyBytes: number;
    /** MEMORY USAGE of a revoked-session entry (mean over a sample). */
    redisRevocationKeyBytes: number;
    /** InnoDB bytes per row, data and indexes, with the table they were read from. */
    mariadbUser: { source: string; rows: number; dataBytes: number; indexBytes: number };
    mariadbRevocation: { source: string; rows: number; dataBytes: number; indexBytes: number };
    /** Bytes of JavaScript heap per credential-memo entry. */
    memoEntryBytes: number;
  };
  argon2: { params: string; cpuMsPerVerify: number[] };
  /** Redis CPU µs per GET from redis-benchmark, per run, at pipeline depths 1 and 16. */
  redisPerGet: { pipeline1: number[]; pipeline16: number[] };
  reloads: Reload[];
}

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

const TIER_HEADINGS: Record<Tier, string> = {
  http: 'HTTP',
  tcp: 'TCP',
  argon2: 'TCP hash threads',
  redis: 'Redis',
  mariadb: 'MariaDB',
  loadgen: 'load generator',
};

export const KIND_NAMES: Record<Kind, string> = {
  'login-cached': 'login, cached',
  'profile-read': 'profile read',
  'nickname-update': 'nickname update',
  'login-refill': 'login, Redis miss',
  'login-cold': 'login, cold',
  'sign-up': 'sign-up',
  logout: 'logout',
};

const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);

/** `get 1, set 0.2`: counts per request, largest first, tiny ones left out. */
function counts(c: Counts, skip: (key: string) => boolean = () => false): string {
  const shown = Object.entries(c)
    .filter(([key, n]) => !skip(key) && n >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${Math.round(n * 100) / 100}`);
  return shown.length ? shown.join(', ') : '0';
}

/** Statements, not the byte and row counters beside them. */
const isStatement = (key: string) => key.startsWith('Com_');

/** The table of medians: CPU µs per request by tier, and commands and statements per request. */
export function measuredTable(data: TierCosts): string {
  const head = [
    'request',
    'how loaded',
    'req/s',
    ...TIERS.map((t) => `${TIER_HEADINGS[t]} µs`),
    'Redis commands',
    'MariaDB statements',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const kind of KINDS) {
    const k = data.kinds[kind];
    const cells = [
      KIND_NAMES[kind],
      k.driver,
      fmt(median(k.rps)),
      ...TIERS.map((t) => fmt(median(k.cpuUs[t]))),
      counts(k.redisCommands),
      counts(
        Object.fromEntries(
          Object.entries(k.mysqlCounters)
            .filter(([key]) => isStatement(key))
            .map(([key, n]) => [key.slice(4), n]),
        ),
        (key) => key === 'stmt_execute',
      ),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Every run's figures, for the spread behind the medians: req/s, then µs per request by tier. */
export function runsTable(data: TierCosts): string {
  const tiers = TIERS.filter((t) => t !== 'loadgen');
  const head = ['request', 'req/s', ...tiers.map((t) => `${TIER_HEADINGS[t]} µs`), 'failed'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  const runs = (xs: number[]) => xs.map(fmt).join(' / ');
  for (const kind of KINDS) {
    const k = data.kinds[kind];
    const cells = [
      KIND_NAMES[kind],
      runs(k.rps),
      ...tiers.map((t) => runs(k.cpuUs[t])),
      String(k.failures.reduce((s, x) => s + x, 0)),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
