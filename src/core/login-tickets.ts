/**
 * Tickets for a login's second step on the pages: after a correct password
 * of an account with two-step login, the browser gets a ticket (in a
 * short-lived cookie) instead of a session, and presents it with the code on
 * a form of its own. The password is never kept anywhere (no hidden field);
 * the ticket only says "this user gave the right password at this instant".
 *
 * Text: signed-text.ts over `t2:<user id>:<ticket id>:<issued ms>:<expires
 * ms>:<remember 0|1>:<valid-after ms>:<username>`, under keys of their own
 * label; `remember` is the login form's "Keep me logged in", carried to the
 * session the second step starts. A ticket is good for a few minutes, for
 * that user id (a name deleted and registered again is someone else), and
 * only while the user's sessions_valid_after is before it was issued and
 * still the valid-after it carries (the value in the row the password was
 * checked against, as session tokens carry it): a password change or "log
 * out everywhere" ends pending tickets as it ends sessions, also a ticket of
 * a login that read the user before the change. Tickets of version 1 (no
 * valid-after) are still read, for the minutes an upgrade takes. It grants nothing without a code,
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
  /** The user's sessions_valid_after when the password was checked; null in version 1. */
  validAfterMs: number | null;
}

/** How long the second step may take. */
export const TICKET_TTL_MS = 5 * 60_000;
const MAX_TICKET_CHARS = 256;
const PAYLOAD =
  /^t([12]):(\d{1,20}):([A-Za-z0-9_-]{22}):(\d{1,16}):(\d{1,16}):([01]):(?:(\d{1,16}):)?(.+)$/;

export class LoginTickets {
  private readonly signed: SignedText;
  private readonly csrf: Bun.CryptoHasher;

  constructor(secrets: readonly string[]) {
    this.signed = new SignedText(secrets, 'login ticket', MAX_TICKET_CHARS);
    this.csrf = new Bun.CryptoHasher('sha256', `login ticket csrf\0${secrets[0]}`);
  }

  issue(
    user: { id: string; username: string; sessionsValidAfterMs: number },
    nowMs: number,
    remember = false,
  ): { ticket: string; csrfToken: string; expiresAtMs: number } {
    const ticketId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const expiresAtMs = nowMs + TICKET_TTL_MS;
    const ticket = this.signed.sign(
      `t2:${user.id}:${ticketId}:${nowMs}:${expiresAtMs}:${remember ? 1 : 0}:${user.sessionsValidAfterMs}:${user.username}`,
    );
    return { ticket, csrfToken: this.csrfToken(ticketId), expiresAtMs };
  }

  /** The claims of an authentic, unexpired ticket; null for anything else. */
  verify(ticket: string, nowMs: number): TicketClaims | null {
    const payload = this.signed.open(ticket);
    const match = payload === null ? null : PAYLOAD.exec(payload);
    if (match === null) return null;
    const [, version, userId = '', ticketId = '', issued, expires, remember, validAfter, username] =
      match;
    // Version 2 carries a valid-after, version 1 none (usernames have no ':').
    if ((version === '2') !== (validAfter !== undefined)) return null;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= nowMs) return null;
    return {
      userId,
      username: username ?? '',
      ticketId,
      issuedAtMs: Number(issued),
      expiresAtMs,
      remember: remember === '1',
      validAfterMs: validAfter === undefined ? null : Number(validAfter),
    };
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
