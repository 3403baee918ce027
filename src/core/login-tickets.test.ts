import { describe, expect, it } from 'bun:test';
import { DeviceCookies } from './device-cookies.ts';
import { LoginTickets, TICKET_TTL_MS } from './login-tickets.ts';
import { SessionTokens } from './session-tokens.ts';

const SECRET = 'login-ticket-unit-secret'.padEnd(40, '!');
const user = { id: '987654321', username: 'Bob_2', passwordHash: 'h' };
const now = 1_700_000_000_000;

describe('unit: LoginTickets', () => {
  const tickets = new LoginTickets([SECRET]);

  it('should give back the user and the instants of a ticket it issued, for a few minutes', () => {
    const { ticket, expiresAtMs } = tickets.issue(user, now);
    expect(expiresAtMs).toBe(now + TICKET_TTL_MS);
    const claims = tickets.verify(ticket, now + TICKET_TTL_MS - 1);
    expect(claims).toMatchObject({
      ...{ userId: user.id, username: user.username },
      issuedAtMs: now,
    });
    expect(claims?.ticketId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(tickets.verify(ticket, now + TICKET_TTL_MS)).toBeNull();
  });

  it('should carry the login form\'s "keep me logged in" to the second step', () => {
    expect(tickets.verify(tickets.issue(user, now).ticket, now)?.remember).toBe(false);
    expect(tickets.verify(tickets.issue(user, now, true).ticket, now)?.remember).toBe(true);
  });

  it('should refuse altered and foreign tickets, and other signed texts', () => {
    const { ticket } = tickets.issue(user, now);
    const [payload = '', mac = ''] = ticket.split('.');
    const forged = Buffer.from(
      Buffer.from(payload, 'base64url').toString().replace('987654321', '987654322'),
    ).toString('base64url');
    expect(tickets.verify(`${forged}.${mac}`, now)).toBeNull();
    expect(new LoginTickets(['another secret'.padEnd(40, 'x')]).verify(ticket, now)).toBeNull();
    expect(
      tickets.verify(new DeviceCookies([SECRET], 60_000).issue(user, now).cookie, now),
    ).toBeNull();
    expect(
      tickets.verify(new SessionTokens([SECRET], 60_000).issue(user, now).token, now),
    ).toBeNull();
  });

  it("should tie the form's anti-CSRF token to the ticket", () => {
    const first = tickets.issue(user, now);
    const second = tickets.issue(user, now);
    const id = (t: string) => tickets.verify(t, now)?.ticketId ?? '';
    expect(tickets.csrfMatches(id(first.ticket), first.csrfToken)).toBe(true);
    expect(tickets.csrfMatches(id(second.ticket), first.csrfToken)).toBe(false);
    expect(tickets.csrfMatches(id(first.ticket), '')).toBe(false);
  });
});
