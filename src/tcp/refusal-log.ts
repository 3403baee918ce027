/**
 * Connections the TCP server refused at the handshake, logged at a rate an
 * operator can read: a client with the wrong secret reconnects with backoff,
 * and a flood of strangers can open connections as fast as the network
 * allows, so a line per refusal would bury the log. Per reason (a handful of
 * fixed texts):
 * - the first refusal is logged at once (warn), with the peer's address;
 * - later ones within `everyMs` are counted, and the next line says how many
 *   there were since the previous one; when no refusal comes after them, a
 *   line at the end of their window does.
 */
import { Sampler } from '../lib/sampler.ts';
import type { Logger } from '../log.ts';

export class RefusalLog {
  private readonly sampler: Sampler;

  constructor(
    private readonly log: Logger,
    everyMs = 10_000,
  ) {
    this.sampler = new Sampler(everyMs, 1, (reason, refusedSinceLastLine) =>
      log.warn({ reason, refusedSinceLastLine }, 'refused connections at the handshake'),
    );
  }

  refused(reason: string, remote: string, now = performance.now()): void {
    const since = this.sampler.pass(reason, now);
    if (since === null) return;
    this.log.warn(
      { remote, reason, refusedSinceLastLine: since },
      'refused a connection at the handshake',
    );
  }
}
