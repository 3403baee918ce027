/**
 * Tickets for a login's second step on the pages: after a correct password
 * of an account with two-step login, the browser gets a ticket (in a
 * short-lived cookie) instead of a session, and presents it with the code on
 * a form of its own. The password is never kept anywhere (no hidden field);
 * the ticket only says "this user gave the right password at this instant".
 *
 * Text: signed-text.ts over
 * `t1:<user id>:<ticket id>:<issued ms>:<expires ms>:<remember 0|1>:<username>`,
 * under keys of their own label; `remember` is the login form's "Keep me
 * logged in", carried to the session the second step starts. A ticket is
 * good for a few minutes, for that user id (a name deleted and registered
 * again is someone else), and only while the user's sessions_valid_after is
 * before it was issued: a password change or "log out everywhere" ends
 * pending tickets as it ends sessions. It grants nothing without a code,
 * and each code works once.
 *
 * The ticket's form carries an anti-CSRF token derived from the ticket id,
 * as a session's forms carry one derived from the session id.
 */
import { timingSafeEqual } from 'node:crypto';
import { SignedText } from './signed-text.ts';

export interface TicketClaims {
  userId: string;
  username: string;
  /** 22 characters of base64url. */
  ticketId: string;
  issuedAtMs: number;
  expiresAtMs: number;
  /** "Keep me logged in" was ticked on the password's form. */
  remember: boolean;
}

/** How long the second step may take. */
export const TICKET_TTL_MS = 5 * 60_000;
const MAX_TICKET_CHARS = 256;
const PAYLOAD = /^t1:(\d{1,20}):([A-Za-z0-9_-]{22}):(\d{1,16}):(\d{1,16}):([01]):(.+)$/;

export class LoginTickets {
  private readonly signed: SignedText;
  private readonly csrf: Bun.CryptoHasher;

  constructor(secrets: readonly string[]) {
    this.signed = new SignedText(secrets, 'login ticket', MAX_TICKET_CHARS);
    this.csrf = new Bun.CryptoHasher('sha256', `login ticket csrf\0${secrets[0]}`);
  }

  issue(
    user: { id: string; username: string },
    nowMs: number,
    remember = false,
  ): { ticket: string; csrfToken: string; expiresAtMs: number } {
    const ticketId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const expiresAtMs = nowMs + TICKET_TTL_MS;
    const ticket = this.signed.sign(
      `t1:${user.id}:${ticketId}:${nowMs}:${expiresAtMs}:${remember ? 1 : 0}:${user.username}`,
    );
    return { ticket, csrfToken: this.csrfToken(ticketId), expiresAtMs };
  }

  /** The claims of an authentic, unexpired ticket; null for anything else. */
  verify(ticket: string, nowMs: number): TicketClaims | null {
    const payload = this.signed.open(ticket);
    const match = payload === null ? null : PAYLOAD.exec(payload);
    if (match === null) return null;
    const [, userId = '', ticketId = '', issued = '0', expires = '0', remember, username = ''] =
      match;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= nowMs) return null;
    const issuedAtMs = Number(issued);
    return { userId, username, ticketId, issuedAtMs, expiresAtMs, remember: remember === '1' };
  }

  csrfMatches(ticketId: string, candidate: string): boolean {
    const expected = Buffer.from(this.csrfToken(ticketId));
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private csrfToken(ticketId: string): string {
    return this.csrf.copy().update(ticketId).digest().subarray(0, 18).toString('base64url');
  }
}
