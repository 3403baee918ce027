import type { HttpOptions } from '../config/http-config.ts';
import type { Registry } from '../lib/metrics.ts';
import type { Logger } from '../log.ts';
import type { RpcClient } from '../rpc/client.ts';

/** What the application is built from (createApp); each route takes its own slice. */
export interface AppDeps {
  rpc: RpcClient;
  /** The HTTP section of the configuration: request limits and proxy trust. */
  http: HttpOptions;
  log: Logger;
  /** Where every request is counted and timed, when given (served on HTTP_METRICS_PORT, not here). */
  metrics?: Registry;
  /** True once the server is shutting down: /readyz then answers 503. */
  draining?: () => boolean;
}

/** What a route that makes calls needs: the RPC client. */
export interface RpcRoute {
  rpc: RpcClient;
}

/** A route that reads a JSON or text-form body of at most `maxJsonBytes`. */
export interface BodyRoute extends RpcRoute {
  maxJsonBytes: number;
}
