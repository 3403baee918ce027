import { describe, expect, it } from 'bun:test';
import { DeviceCookies } from './device-cookies.ts';
import { LoginTickets, TICKET_TTL_MS } from './login-tickets.ts';
import { SessionTokens } from './session-tokens.ts';
import { SignedText } from './signed-text.ts';

const SECRET = 'login-ticket-unit-secret'.padEnd(40, '!');
const user = { id: '987654321', username: 'Bob_2', passwordHash: 'h', sessionsValidAfterMs: 1234 };
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
      validAfterMs: 1234,
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

  it('should read tickets of version 1 (no valid-after) for the minutes of an upgrade, and no mix of the two', () => {
    const signed = new SignedText([SECRET], 'login ticket', 256);
    const id = 'A'.repeat(22);
    const v1 = signed.sign(`t1:42:${id}:${now}:${now + 60_000}:1:Bob_2`);
    expect(tickets.verify(v1, now)).toEqual({
      userId: '42',
      username: 'Bob_2',
      ticketId: id,
      issuedAtMs: now,
      expiresAtMs: now + 60_000,
      remember: true,
      validAfterMs: null,
    });
    expect(
      tickets.verify(signed.sign(`t1:42:${id}:${now}:${now + 60_000}:1:7:Bob_2`), now),
    ).toBeNull();
    expect(
      tickets.verify(signed.sign(`t2:42:${id}:${now}:${now + 60_000}:1:Bob_2`), now),
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
