/**
 * What a fault run amounts to: requests, outcomes by class, p99 and max
 * latency, and the time to recover, as rows of one table.
 */
import { OUTCOMES, type Outcome, type Sample } from './load.ts';

export interface Summary {
  requests: number;
  counts: Record<Outcome, number>;
  /** 4xx and 5xx other than 429 and 503, by HTTP status. */
  statuses: Map<number, number>;
  p99: number;
  max: number;
}

function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function summarize(samples: readonly Sample[]): Summary {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const statuses = new Map<number, number>();
  for (const s of samples) {
    counts[s.outcome]++;
    if (s.outcome === '4xx' || s.outcome === '5xx')
      statuses.set(s.status, (statuses.get(s.status) ?? 0) + 1);
  }
  const ms = samples.map((s) => s.ms);
  return {
    requests: samples.length,
    counts,
    statuses,
    p99: percentile(ms, 0.99),
    max: ms.length === 0 ? 0 : Math.max(...ms),
  };
}

/** Samples started in [from, to). */
export function between(samples: readonly Sample[], from: number, to = Infinity): Sample[] {
  return samples.filter((s) => s.start >= from && s.start < to);
}

/**
 * Seconds from `faultEnd` to the start of the first run of requests that all
 * succeeded (2xx) for at least `windowMs`; 0 when nothing failed after the
 * fault ended; null when no such run came before the samples end.
 */
export function timeToRecover(
  samples: readonly Sample[],
  faultEnd: number,
  windowMs = 1000,
): number | null {
  const after = between(samples, faultEnd).sort((a, b) => a.start - b.start);
  let runStart: number | null = null;
  for (const s of after) {
    if (s.outcome !== '2xx') {
      runStart = null;
      continue;
    }
    runStart ??= s.start;
    if (s.start - runStart >= windowMs) return Math.max(0, runStart - faultEnd) / 1000;
  }
  return null;
}

export interface Row {
  scenario: string;
  summary: Summary;
  recoverS: number | null;
  notes: string;
}

/** The errors other than 503, by class: "refused 12, 504 3", or "0". */
export function otherErrors(summary: Summary): string {
  const parts: string[] = [];
  for (const outcome of OUTCOMES) {
    if (outcome === '2xx' || outcome === '503' || outcome === '4xx' || outcome === '5xx') continue;
    const n = summary.counts[outcome];
    if (n > 0) parts.push(`${outcome} ${n}`);
  }
  for (const [status, n] of [...summary.statuses].sort((a, b) => a[0] - b[0]))
    parts.push(`${status} ${n}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| scenario | requests | 2xx | 503 | other (by class) | p99 ms | max ms | recover s | notes |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |',
  ];
  for (const { scenario, summary, recoverS, notes } of rows) {
    lines.push(
      `| ${scenario} | ${summary.requests} | ${summary.counts['2xx']} | ${summary.counts['503']} | ` +
        `${otherErrors(summary)} | ${summary.p99.toFixed(1)} | ${summary.max.toFixed(1)} | ` +
        `${recoverS === null ? 'never' : recoverS.toFixed(2)} | ${notes} |`,
    );
  }
  return lines.join('\n');
}
