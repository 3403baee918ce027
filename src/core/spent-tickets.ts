/**
 * Login tickets already used (login-tickets.ts): a ticket starts one session.
 * It used to start one per valid code until it expired, so whoever held the
 * cookie could make sessions with each further code. A ticket is marked spent
 * when its second step succeeds, until it would have expired anyway: in the
 * cache (one SET NX, so every TCP server sees it and two racing uses get one
 * session), or in this process while there is no cache or it is unreachable.
 */
import type { Cache } from '../cache/port.ts';

const PREFIX = 'tk:';
/** Spent tickets kept in process at most; expired ones go first (tickets live minutes). */
const MAX_LOCAL = 100_000;

export class SpentTickets {
  /** Ticket id to the instant it expires. */
  private readonly local = new Map<string, number>();

  constructor(private readonly cache: Cache | null) {}

  /** True when the ticket was used before (here, or on any server through the cache). */
  async spent(ticketId: string, nowMs: number): Promise<boolean> {
    if (this.isSpentHere(ticketId, nowMs)) return true;
    if (this.cache === null) return false;
    try {
      return (await this.cache.get(`${PREFIX}${ticketId}`)) !== null;
    } catch {
      return false; // unreachable: what this process knows is all there is
    }
  }

  /** Marks it spent; false when it already was (a racing use won). */
  async spend(ticketId: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    if (this.isSpentHere(ticketId, nowMs)) return false;
    this.remember(ticketId, expiresAtMs, nowMs);
    if (this.cache === null) return true;
    try {
      const ttlMs = Math.max(1, expiresAtMs - nowMs);
      return await this.cache.set(`${PREFIX}${ticketId}`, '1', ttlMs, true);
    } catch {
      return true; // kept in this process meanwhile
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
