/**
 * Login tickets taken (login-tickets.ts): a ticket starts one session. It
 * used to start one per valid code until it expired, so whoever held the
 * cookie could make sessions with each further code. A second step takes its
 * ticket before its code is looked at, until the ticket would have expired
 * anyway, and gives it back when the code is wrong: in the cache (one SET NX,
 * so every TCP server sees it and of two racing posts one alone uses a code),
 * or in this process while there is no cache or it is unreachable.
 */
import type { Cache } from '../cache/port.ts';

const PREFIX = 'tk:';
/** Spent tickets kept in process at most; expired ones go first (tickets live minutes). */
const MAX_LOCAL = 100_000;

export class SpentTickets {
  /** Ticket id to the instant it expires. */
  private readonly local = new Map<string, number>();

  constructor(private readonly cache: Cache | null) {}

  /** Takes it; false when it was taken before (here, or on any server through the cache). */
  async spend(ticketId: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    if (this.isSpentHere(ticketId, nowMs)) return false;
    this.remember(ticketId, expiresAtMs, nowMs);
    if (this.cache === null) return true;
    try {
      const ttlMs = Math.max(1, expiresAtMs - nowMs);
      const taken = await this.cache.set(`${PREFIX}${ticketId}`, '1', ttlMs, true);
      // Another server holds it, and may give it back: the cache says when.
      if (!taken) this.local.delete(ticketId);
      return taken;
    } catch {
      return true; // kept in this process meanwhile
    }
  }

  /** Gives it back (a wrong code): the next try may take it. */
  async unspend(ticketId: string): Promise<void> {
    this.local.delete(ticketId);
    if (this.cache === null) return;
    try {
      await this.cache.del([`${PREFIX}${ticketId}`]);
    } catch {
      // Unreachable: the ticket stays taken there, and the person enters the password again.
    }
  }

  private isSpentHere(ticketId: string, nowMs: number): boolean {
    const until = this.local.get(ticketId);
    return until !== undefined && until > nowMs;
  }

  private remember(ticketId: string, expiresAtMs: number, nowMs: number): void {
    if (this.local.size >= MAX_LOCAL) {
      for (const [id, until] of this.local) if (until <= nowMs) this.local.delete(id);
      // Still full: the oldest go (a map iterates in insertion order).
      for (const id of this.local.keys()) {
        if (this.local.size < MAX_LOCAL) break;
        this.local.delete(id);
      }
    }
    this.local.set(ticketId, expiresAtMs);
  }
}
