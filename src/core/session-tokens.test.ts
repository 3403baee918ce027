import { describe, expect, it } from 'bun:test';
import { SessionTokens } from './session-tokens.ts';

const secretA = 'a'.repeat(40);
const secretB = 'b'.repeat(40);
const user = { id: '9223372036854775807', username: 'Alice.B-1' };
const now = Date.UTC(2026, 10, 23);

describe('unit: SessionTokens', () => {
  it('should round-trip the claims of a token it issued', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    const { token, claims } = tokens.issue(user, now);
    expect(claims).toMatchObject({
      userId: user.id,
      username: user.username,
      issuedAtMs: now,
      expiresAtMs: now + 60_000,
    });
    expect(claims.sessionId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(tokens.verify(token, now + 1)).toEqual(claims);
  });

  it('should give every session its own id', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    const ids = new Set(
      Array.from({ length: 1000 }, () => tokens.issue(user, now).claims.sessionId),
    );
    expect(ids.size).toBe(1000);
  });

  it('should refuse expired, forged, truncated, oversized and foreign tokens', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    const { token } = tokens.issue(user, now);
    expect(tokens.verify(token, now + 60_000)).toBeNull();
    const [payload, mac] = token.split('.') as [string, string];
    const flipped = `${payload.slice(0, 5)}${payload[5] === 'A' ? 'B' : 'A'}${payload.slice(6)}.${mac}`;
    expect(tokens.verify(flipped, now)).toBeNull();
    expect(tokens.verify(token.slice(0, -1), now)).toBeNull();
    expect(tokens.verify(`${payload}.`, now)).toBeNull();
    expect(tokens.verify('x'.repeat(10_000), now)).toBeNull();
    expect(tokens.verify('', now)).toBeNull();
    expect(tokens.verify('not a token', now)).toBeNull();
    const other = new SessionTokens([secretB], 60_000);
    expect(other.verify(token, now)).toBeNull();
  });

  it('should verify tokens of an older secret after rotation, and sign with the newest', () => {
    const before = new SessionTokens([secretA], 60_000);
    const old = before.issue(user, now).token;
    const after = new SessionTokens([secretB, secretA], 60_000);
    expect(after.verify(old, now)?.userId).toBe(user.id);
    const fresh = after.issue(user, now).token;
    expect(before.verify(fresh, now)).toBeNull();
    expect(new SessionTokens([secretB], 60_000).verify(fresh, now)?.userId).toBe(user.id);
  });

  it('should derive a CSRF token per session and compare it exactly', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    const a = tokens.issue(user, now).claims.sessionId;
    const b = tokens.issue(user, now).claims.sessionId;
    const csrf = tokens.csrfToken(a);
    expect(tokens.csrfMatches(a, csrf)).toBe(true);
    expect(tokens.csrfMatches(b, csrf)).toBe(false);
    expect(tokens.csrfMatches(a, '')).toBe(false);
    expect(tokens.csrfMatches(a, `${csrf}x`)).toBe(false);
  });
});
