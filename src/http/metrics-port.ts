/**
 * The HTTP servers' /metrics, on a port of its own (HTTP_METRICS_PORT) and
 * never on the public one.
 *
 * An HTTP server run on its own (a unit, a pod) serves its own registry
 * there. Under `npm start` several HTTP processes share the public port, and
 * a scrape of any one of them would see only its share of the traffic; so
 * the launcher listens on HTTP_METRICS_PORT instead, asks every HTTP process
 * for its registry over the IPC channel it spawned them with, and sums them
 * (prom-client's AggregatorRegistry: counters and histogram buckets add up,
 * `usermgr_http_processes` counts the processes that answered).
 */
import type { Server, Subprocess } from 'bun';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Registry } from '../lib/metrics.ts';
import { requestPath } from '../lib/request-path.ts';
import { METHOD_NOT_ALLOWED } from '../wire/status.ts';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Launcher to HTTP process: send your registry, answering with this id. */
interface MetricsRequest {
  metricsRequest: number;
}

/** HTTP process to launcher. */
interface MetricsReply {
  metricsReply: number;
  metrics: MetricsJson;
}

/** How long a scrape waits for an HTTP process; one that does not answer is left out. */
const REPLY_TIMEOUT_MS = 2000;

/** GET /metrics from `scrape()`; anything else 404 (this port serves nothing else). */
export function serveMetrics(
  listen: { host: string; port: number },
  scrape: () => Promise<Registry>,
): Server<undefined> {
  return Bun.serve({
    hostname: listen.host,
    port: listen.port,
    development: false,
    async fetch(request) {
      const pathname = requestPath(request.url);
      if (pathname !== '/metrics')
        return Response.json(
          { error: { code: 'NOT_FOUND', message: 'no such route' } },
          { status: 404 },
        );
      if (request.method !== 'GET')
        return Response.json(
          { error: { code: METHOD_NOT_ALLOWED, message: 'GET only' } },
          { status: 405 },
        );
      const registry = await scrape();
      return new Response(await registry.metrics(), {
        headers: { 'Content-Type': registry.contentType },
      });
    },
  });
}

/** In an HTTP process under `npm start`: answer the launcher's requests for `registry`. */
export function answerMetricsRequests(registry: Registry): void {
  process.on('message', (message: unknown) => {
    const id = (message as Partial<MetricsRequest> | null)?.metricsRequest;
    if (typeof id !== 'number') return;
    void registry.getMetricsAsJSON().then((metrics) => {
      const reply: MetricsReply = { metricsReply: id, metrics: metrics as MetricsJson };
      process.send?.(reply);
    });
  });
}

/** In the launcher: the registries of its HTTP processes, summed. */
export function metricsCollector() {
  let nextId = 1;
  const pending = new Map<number, (metrics: MetricsJson) => void>();

  function ask(child: Subprocess): Promise<MetricsJson | null> {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(null);
      }, REPLY_TIMEOUT_MS);
      pending.set(id, (metrics) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(metrics);
      });
      try {
        const request: MetricsRequest = { metricsRequest: id };
        child.send(request);
      } catch {
        // Exited meanwhile: left out of this scrape.
        pending.get(id)?.([]);
      }
    });
  }

  return {
    /** Give Bun.spawn as `ipc`: routes the replies. */
    onMessage(message: unknown): void {
      const reply = message as Partial<MetricsReply> | null;
      if (typeof reply?.metricsReply === 'number' && Array.isArray(reply.metrics))
        pending.get(reply.metricsReply)?.(reply.metrics);
    },
    async collect(children: readonly Subprocess[]): Promise<Registry> {
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const answers = await Promise.all(alive.map(ask));
      return AggregatorRegistry.aggregate(
        answers.filter((a): a is MetricsJson => a !== null && a.length > 0).map(perProcessLimits),
      );
    },
  };
}

/**
 * Metrics that are each process's own limit, not a count to add up: prom-client
 * sums them by default (two processes showed 40000 open files allowed, each
 * having 20000). Their highest value is the one that means something.
 */
const PER_PROCESS_LIMITS = new Set(['process_max_fds']);

function perProcessLimits(metrics: MetricsJson): MetricsJson {
  return metrics.map((metric) =>
    PER_PROCESS_LIMITS.has(metric.name) ? { ...metric, aggregator: 'max' } : metric,
  ) as MetricsJson;
}
