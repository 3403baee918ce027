/**
 * A latency histogram that prom-client's registry exposes like its own.
 *
 * prom-client's Histogram turns the label values into an object, validates
 * and hashes it on every observation, a cost the login path measured
 * (bench/RESULTS.md, "Small costs quoted by the code"). Here a label combination is
 * resolved once to a child holding plain counters, so an observation is a
 * bucket search and three additions. Invariants:
 * - a child's `counts[i]` is the number of observations in bucket i alone
 *   (upper bound `buckets[i]`, the last one +Inf); cumulative counts, sum and
 *   count are produced only when the registry is scraped;
 * - the text a scrape produces is the one prom-client writes for its own
 *   histograms (`_bucket{le}`, `_sum`, `_count`, default labels added by the
 *   registry).
 */
import type { Registry } from 'prom-client';

interface Child {
  readonly labels: Record<string, string>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
}

interface Scraped {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/** One label combination's handle: observe a duration in seconds. */
export interface Observe {
  observe(seconds: number): void;
}

/** Label combinations kept apart; past it, new ones share one child labelled "other". */
const MAX_CHILDREN = 1000;
const OTHER = '\u0001other';

export class LatencyHistogram<L extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, Child>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly buckets: readonly number[],
  ) {}

  /** The handle for these label values (in `labelNames` order). */
  labels(...values: string[]): Observe {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const child = this.child(values);
    return { observe: (seconds) => this.record(child, seconds) };
  }

  /** For a histogram without labels. */
  observe(seconds: number): void {
    this.record(this.child([]), seconds);
  }

  /** `labels(...values).observe(seconds)`, without building a handle. */
  observeWith(values: readonly string[], seconds: number): void {
    this.record(this.child(values), seconds);
  }

  /**
   * Called by the registry on a scrape. The label values travel as
   * sharedLabels, as prom-client's own histograms send them, so the text is
   * the same down to the order of the labels.
   */
  getForPromString(): Scraped {
    const values: Sample[] = [];
    for (const child of this.children.values()) {
      const shared = child.labels;
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += child.counts[i] as number;
        const le = i < this.buckets.length ? (this.buckets[i] as number) : '+Inf';
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le },
          sharedLabels: shared,
          value: cumulative,
        });
      }
      values.push({
        metricName: `${this.name}_sum`,
        labels: {},
        sharedLabels: shared,
        value: child.sum,
      });
      values.push({
        metricName: `${this.name}_count`,
        labels: {},
        sharedLabels: shared,
        value: child.count,
      });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  /** The same with every sample's labels in one object (the registry's JSON form). */
  get(): Scraped {
    const scraped = this.getForPromString();
    for (const sample of scraped.values) {
      sample.labels = { ...sample.labels, ...sample.sharedLabels };
      sample.sharedLabels = {};
    }
    return scraped;
  }

  reset(): void {
    this.children.clear();
  }

  private child(values: readonly string[]): Child {
    const key = values.join('\u0000');
    const found = this.children.get(key);
    if (found !== undefined) return found;
    // Label values can come from requests (a method, say): bound what they can cost.
    const overflow = this.children.size >= MAX_CHILDREN;
    if (overflow) {
      const other = this.children.get(OTHER);
      if (other !== undefined) return other;
    }
    const labels: Record<string, string> = {};
    this.labelNames.forEach((name, i) => {
      labels[name] = overflow ? 'other' : (values[i] ?? '');
    });
    const child = { labels, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
    this.children.set(overflow ? OTHER : key, child);
    return child;
  }

  private record(child: Child, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && seconds > (buckets[i] as number)) i++;
    child.counts[i] = (child.counts[i] as number) + 1;
    child.sum += seconds;
    child.count++;
  }
}

/** A histogram in `registry`, scraped with its other metrics. */
export function latencyHistogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: readonly number[],
): LatencyHistogram<L> {
  const histogram = new LatencyHistogram(name, help, labelNames, buckets);
  // What prom-client 15's Registry uses of a metric: `name` (to register it) and
  // `type`; a text scrape (`metrics()`) calls getForPromString() when the metric has
  // one, else get(); get() serves only the JSON form (getMetricsAsJSON, which cluster
  // aggregation reads) and reset() only resetMetrics(). Help and labels come from the
  // object those calls return.
  registry.registerMetric(histogram as unknown as Parameters<Registry['registerMetric']>[0]);
  return histogram;
}
