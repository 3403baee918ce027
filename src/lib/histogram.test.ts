import { describe, expect, it } from 'bun:test';
import client from 'prom-client';
import { latencyHistogram } from './histogram.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const SAMPLES: [string, string, number][] = [
  ['login', 'OK', 0.0004],
  ['login', 'OK', 0.001], // on a bound: counted in that bucket (le is "less or equal")
  ['login', 'OK', 0.05],
  ['login', 'UNAUTHENTICATED', 0.04],
  ['getProfile', 'OK', 2.5], // above every bound: only in +Inf
];

function registry(): client.Registry {
  const r = new client.Registry();
  r.setDefaultLabels({ process: 'test' });
  return r;
}

/** Our histogram and prom-client's, each in its own registry, given SAMPLES. */
function sameObservations(): { ours: client.Registry; theirs: client.Registry } {
  const ours = registry();
  const theirs = registry();
  const a = latencyHistogram(ours, 'calls_seconds', 'Calls.', ['call', 'status'], BUCKETS);
  const b = new client.Histogram({
    name: 'calls_seconds',
    help: 'Calls.',
    labelNames: ['call', 'status'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  for (const [call, status, seconds] of SAMPLES) {
    a.observeWith([call, status], seconds);
    b.labels(call, status).observe(seconds);
  }
  return { ours, theirs };
}

describe('unit: LatencyHistogram', () => {
  it('should scrape to the same text as a prom-client Histogram given the same observations', async () => {
    const { ours, theirs } = sameObservations();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('should answer the JSON form and a reset as a prom-client Histogram does', async () => {
    const { ours, theirs } = sameObservations();
    // Compared sample by sample: prom-client adds an empty exemplar field, ours an empty
    // sharedLabels.
    const samples = async (r: client.Registry) =>
      (await r.getMetricsAsJSON()).map(({ name, help, type, values }) => ({
        name,
        help,
        type,
        // prom-client's MetricValue type leaves out the metricName a histogram sets.
        values: (values as { metricName?: string; labels: object; value: number }[]).map(
          ({ metricName, labels, value }) => ({ metricName, labels, value }),
        ),
      }));
    expect(await samples(ours)).toEqual(await samples(theirs));
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).not.toContain('calls_seconds_count');
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('should count a histogram without labels', async () => {
    const r = registry();
    const h = latencyHistogram(r, 'hash_seconds', 'Hashes.', [], BUCKETS);
    h.observe(0.05);
    h.observe(0.5);
    const text = await r.metrics();
    expect(text).toContain('hash_seconds_bucket{le="0.1",process="test"} 1');
    expect(text).toContain('hash_seconds_bucket{le="+Inf",process="test"} 2');
    expect(text).toContain('hash_seconds_count{process="test"} 2');
  });

  it('should ignore a value that is not a finite number', async () => {
    const r = registry();
    const h = latencyHistogram(r, 'x_seconds', 'X.', [], BUCKETS);
    h.observe(Number.NaN);
    h.observe(Number.POSITIVE_INFINITY);
    h.observe(0.5);
    expect(await r.metrics()).toContain('x_seconds_count{process="test"} 1');
  });

  it('should fold label combinations past 1000 into one labelled "other"', async () => {
    const r = registry();
    const h = latencyHistogram(r, 'req_seconds', 'Requests.', ['method'], BUCKETS);
    for (let i = 0; i < 1005; i++) h.observeWith([`M${i}`], 0.001);
    const text = await r.metrics();
    expect(text.match(/^req_seconds_count\{/gm)?.length).toBe(1001);
    expect(text).toContain('req_seconds_count{process="test",method="other"} 5');
    expect(text).toContain('req_seconds_count{process="test",method="M999"} 1');
  });

  it('should refuse the wrong number of label values', () => {
    const h = latencyHistogram(registry(), 'y_seconds', 'Y.', ['a', 'b'], BUCKETS);
    expect(() => h.labels('only-one')).toThrow('takes 2 label values');
  });
});
