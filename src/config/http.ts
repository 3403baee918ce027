/** Where and how the HTTP server listens, and the request sizes it accepts. */
import type { Reader } from './reader.ts';
import { bool, host, int } from './variable.ts';

const MiB = 1024 * 1024;
/** Room in a frame for the rest of a SetPicture request around the image. */
const FRAME_ROOM_BYTES = 64 * 1024;

export const httpVariables = {
  host: host('HTTP_HOST', { default: '127.0.0.1', doc: 'where the HTTP server listens' }),
  port: int('HTTP_PORT', {
    default: 8080,
    min: 0,
    max: 65535,
    doc: 'where the HTTP server listens',
  }),
  /**
   * The HTTP servers' /metrics, apart from the public port. Under `npm start`
   * the launcher listens here and answers for every HTTP process at once.
   */
  metricsPort: int('HTTP_METRICS_PORT', {
    default: 9465,
    min: 0,
    max: 65535,
    doc: "the HTTP servers' /metrics (on HTTP_HOST); under npm start one port for all of them",
  }),
  /** Let several HTTP server processes listen on the same port (the kernel spreads connections). */
  reusePort: bool('HTTP_REUSE_PORT', {
    default: false,
    doc: 'let several HTTP processes listen on one port (SO_REUSEPORT)',
  }),
  /**
   * How many HTTP server processes `npm start` runs (with HTTP_REUSE_PORT).
   * One per core, up to 4: the HTTP server is the busiest process, and on
   * 2 cores a second one gave more logins (bench/RESULTS.md).
   */
  processes: int('HTTP_PROCESSES', {
    default: Math.min(4, navigator.hardwareConcurrency || 1),
    min: 1,
    max: 64,
    computed: true,
    doc: 'HTTP server processes npm start runs, sharing the port',
  }),
  maxJsonBytes: int('HTTP_MAX_JSON_BYTES', {
    default: 16 * 1024,
    min: 1024,
    max: 16 * MiB,
    doc: 'largest JSON or text-form body (login, sign-up, nickname)',
  }),
  maxUploadBytes: int('HTTP_MAX_UPLOAD_BYTES', {
    default: 5 * MiB,
    min: 1024,
    max: 63 * MiB,
    doc: 'largest picture upload; at most MAX_FRAME_BYTES - 64 KiB',
  }),
  /**
   * Picture uploads one HTTP process reads at once. Each holds its body a
   * few times over (the body, the file, the frame) until the TCP server
   * answers, which the TCP server's own queue (PICTURE_QUEUE) does not bound:
   * 60 uploads at once grew an HTTP process to 3 GB. Beyond, 429 before the
   * body is read.
   */
  uploadConcurrency: int('HTTP_UPLOAD_CONCURRENCY', {
    default: 8,
    min: 1,
    max: 1024,
    doc: 'picture uploads one HTTP process reads at once; beyond, 429 before the body is read',
  }),
  trustProxy: bool('TRUST_PROXY', {
    default: false,
    doc: 'believe X-Forwarded-Proto, X-Forwarded-For and X-Request-Id (only behind your own proxy)',
  }),
};

/** The HTTP section; an upload must fit in one frame of `maxFrameBytes`. */
export function readHttp(read: Reader, maxFrameBytes: number) {
  const http = read.all(httpVariables);
  if (http.maxUploadBytes > maxFrameBytes - FRAME_ROOM_BYTES) {
    read.problem(
      httpVariables.maxUploadBytes,
      String(http.maxUploadBytes),
      `at most MAX_FRAME_BYTES - 65536 (${maxFrameBytes - FRAME_ROOM_BYTES}): an upload travels in one frame`,
    );
  }
  return http;
}
