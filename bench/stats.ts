/** Percentiles of a list of latencies in milliseconds, rounded for reports. */
export function latencySummary(latencies: number[]): {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
} {
  if (latencies.length === 0) return { p50_ms: 0, p99_ms: 0, max_ms: 0 };
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    p50_ms: round(at(0.5)),
    p99_ms: round(at(0.99)),
    max_ms: round(sorted[sorted.length - 1] as number),
  };
}
