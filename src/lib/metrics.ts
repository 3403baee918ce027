/**
 * Prometheus metrics (prom-client), one registry per process.
 *
 * Counters the code keeps anyway (pool stats, memo and cache counts) are read
 * when Prometheus scrapes, not incremented twice on the hot path; latency
 * histograms (our own, cheaper to observe: histogram.ts) are observed through
 * small hooks and wrappers, so services and adapters never import prom-client.
 */
import client from 'prom-client';
import { type LatencyHistogram, latencyHistogram, type Observe } from './histogram.ts';

export type Registry = client.Registry;

/** Seconds buckets from 0.5 ms to 10 s: logins take ~1 ms, slow hashes ~50 ms, timeouts seconds. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Default metrics whose collection costs the event loop time proportional to the heap. */
export const EXPENSIVE_DEFAULTS = [
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
];

/** A registry; `withDefaults: false` leaves out the process metrics (and their timers). */
export function createRegistry(processName: 'http' | 'tcp', withDefaults = true): Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ process: processName });
  // Includes the event-loop lag histogram (nodejs_eventloop_lag_*).
  if (withDefaults) {
    client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
    // Each scrape of these calls v8.getHeapSpaceStatistics(), which Bun answers
    // by walking the whole heap on the event loop: 230 ms with two million
    // objects, so every scrape stalled every call of a busy server
    // (bench/RESULTS.md). nodejs_heap_size_* (from process.memoryUsage()) stay.
    for (const name of EXPENSIVE_DEFAULTS) registry.removeSingleMetric(name);
  }
  return registry;
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): LatencyHistogram<L> {
  return latencyHistogram(registry, name, help, labelNames, LATENCY_BUCKETS);
}

/** A gauge whose value (or values, by one label) is read from `read` at scrape time. */
export function gaugeFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => Record<string, number> | number,
  labelName = 'result',
): void {
  new client.Gauge({
    name,
    help,
    labelNames: typeof read() === 'number' ? [] : [labelName],
    registers: [registry],
    collect() {
      const value = read();
      if (typeof value === 'number') this.set(value);
      else for (const [label, n] of Object.entries(value)) this.set({ [labelName]: label }, n);
    },
  });
}

/** A counter whose total is read from `read` at scrape time (it must only grow). */
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => Record<string, number> | number,
  labelName = 'result',
): void {
  new client.Counter({
    name,
    help,
    labelNames: typeof read() === 'number' ? [] : [labelName],
    registers: [registry],
    collect() {
      const value = read();
      this.reset();
      if (typeof value === 'number') this.inc(value);
      else for (const [label, n] of Object.entries(value)) this.inc({ [labelName]: label }, n);
    },
  });
}

/**
 * The same object with every method timed into `metric` as
 * {operation, outcome: ok|error}. For ports (store, cache): the adapters stay
 * unaware of metrics. An operation's series exist from its first call
 * through the wrapper: a method of the adapter only its own methods call
 * (those run on the target, untimed) never becomes a series.
 */
export function timed<T extends object>(
  target: T,
  metric: LatencyHistogram<'operation' | 'outcome'>,
): T {
  const wrapped = Object.create(target) as T;
  let proto: object | null = target;
  const names = new Set<string>();
  while (proto !== null && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) names.add(name);
    proto = Object.getPrototypeOf(proto);
  }
  for (const name of names) {
    const method = (target as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    let ok: Observe | undefined;
    let error: Observe | undefined;
    (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      ok ??= metric.labels(name, 'ok');
      error ??= metric.labels(name, 'error');
      const started = performance.now();
      try {
        const result = await (method as (...a: unknown[]) => unknown).apply(target, args);
        ok.observe((performance.now() - started) / 1000);
        return result;
      } catch (err) {
        error.observe((performance.now() - started) / 1000);
        throw err;
      }
    };
  }
  return wrapped;
}
