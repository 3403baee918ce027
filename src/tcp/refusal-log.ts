/**
 * Connections the TCP server refused at the handshake, logged at a rate an
 * operator can read: a client with the wrong secret reconnects with backoff,
 * and a flood of strangers can open connections as fast as the network
 * allows, so a line per refusal would bury the log. Per reason (a handful of
 * fixed texts):
 * - the first refusal is logged at once (warn), with the peer's address;
 * - later ones within `everyMs` are counted, and the next line says how many
 *   there were since the previous one.
 */
import type { Logger } from '../log.ts';

interface Last {
  at: number;
  since: number;
}

export class RefusalLog {
  private readonly last = new Map<string, Last>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 10_000,
  ) {}

  refused(reason: string, remote: string, now = performance.now()): void {
    const last = this.last.get(reason);
    if (last !== undefined && now - last.at < this.everyMs) {
      last.since++;
      return;
    }
    this.log.warn(
      { remote, reason, refusedSinceLastLine: last?.since ?? 0 },
      'refused a connection at the handshake',
    );
    this.last.set(reason, { at: now, since: 0 });
  }
}
