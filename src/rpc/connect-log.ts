/**
 * What the pool says about the TCP servers it cannot reach, at a rate an
 * operator can read: with several sockets per address each retrying with
 * backoff, a down server would otherwise give a line per socket per retry.
 * Per address:
 * - the first failure of a streak is logged at once (warn), with its error;
 * - while the streak lasts, at most one line per `everyMs`, with the count
 *   of failures since the last line and the latest error;
 * - the first success after a streak is logged (info), with the streak's
 *   length and duration, and ends it.
 */
import type { Logger } from '../log.ts';

interface Streak {
  since: number;
  failures: number;
  /** Failures not yet reported in a log line. */
  unreported: number;
  lastLogged: number;
}

export class ConnectLog {
  private readonly streaks = new Map<string, Streak>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 30_000,
  ) {}

  failed(address: string, error: unknown, now = performance.now()): void {
    const err = describe(error);
    const streak = this.streaks.get(address);
    if (streak === undefined) {
      this.streaks.set(address, { since: now, failures: 1, unreported: 0, lastLogged: now });
      this.log.warn({ address, err }, 'cannot connect to TCP server; retrying with backoff');
      return;
    }
    streak.failures++;
    streak.unreported++;
    if (now - streak.lastLogged < this.everyMs) return;
    this.log.warn(
      {
        address,
        err,
        failures: streak.unreported,
        downForS: Math.round((now - streak.since) / 1000),
      },
      'still cannot connect to TCP server',
    );
    streak.unreported = 0;
    streak.lastLogged = now;
  }

  connected(address: string, now = performance.now()): void {
    const streak = this.streaks.get(address);
    if (streak === undefined) return;
    this.streaks.delete(address);
    this.log.info(
      {
        address,
        failures: streak.failures,
        downForS: Math.round((now - streak.since) / 1000),
      },
      'connected to TCP server again',
    );
  }

  /** Forgets an address that is no longer used. */
  forget(address: string): void {
    this.streaks.delete(address);
  }
}

/** The message only: connect errors carry no stack worth a line, and some carry a lot. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
