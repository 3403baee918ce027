/** What both servers read alike: logging, metrics, shutdown, and the frame size they share. */
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/frame.ts';
import type { Reader } from './reader.ts';
import { bool, int, oneOf } from './variable.ts';

const MiB = 1024 * 1024;

export const sharedVariables = {
  logLevel: oneOf('LOG_LEVEL', {
    default: 'info',
    allowed: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'pino level, or silent',
  }),
  metricsEnabled: bool('METRICS_ENABLED', {
    default: true,
    doc: 'Prometheus metrics on both servers; off only to measure their cost',
  }),
  shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', {
    default: 10_000,
    min: 0,
    max: 600_000,
    doc: 'how long SIGTERM waits for in-flight work',
  }),
  maxFrameBytes: int('MAX_FRAME_BYTES', {
    default: DEFAULT_MAX_FRAME_BYTES,
    min: 1024,
    max: 64 * MiB,
    doc: 'largest frame either side accepts (a picture upload must fit)',
  }),
};

export function readShared(read: Reader) {
  return read.all(sharedVariables);
}
