import { describe, expect, it } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { olderSessionToken } from './accounts-fixture.ts';
import { SessionTokens } from './session-tokens.ts';

const secretA = 'a'.repeat(40);
const secretB = 'b'.repeat(40);
const user = { id: '9223372036854775807', username: 'Alice.B-1', sessionsValidAfterMs: 1234 };
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
      persistent: false,
      validAfterMs: 1234,
    });
    expect(claims.sessionId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(tokens.verify(token, now + 1)).toEqual(claims);
  });

  it('should give a "keep me logged in" session the longer lifetime, and say so in the token', () => {
    const tokens = new SessionTokens([secretA], 60_000, 600_000);
    const { token, claims } = tokens.issue(user, now, true);
    expect(claims).toMatchObject({ persistent: true, expiresAtMs: now + 600_000 });
    expect(tokens.verify(token, now + 599_999)).toEqual(claims);
    expect(tokens.verify(token, now + 600_000)).toBeNull();
  });

  it('should renew a session into a new token: same id and start, a whole lifetime from now', () => {
    const tokens = new SessionTokens([secretA], 60_000, 600_000);
    for (const persistent of [false, true]) {
      const lifetime = persistent ? 600_000 : 60_000;
      const { token, claims } = tokens.issue(user, now, persistent);
      // Due once a quarter of the lifetime has passed, not before.
      expect(tokens.needsRenewal(claims, now + lifetime / 4 - 1)).toBe(false);
      expect(tokens.needsRenewal(claims, now + lifetime / 4 + 1)).toBe(true);
      const later = now + lifetime / 2;
      const renewed = tokens.renew(claims, later, 999_999);
      expect(renewed.token).not.toBe(token);
      expect(renewed.claims).toEqual({ ...claims, expiresAtMs: later + lifetime });
      expect(tokens.verify(renewed.token, later + lifetime - 1)).toEqual(renewed.claims);
      expect(tokens.needsRenewal(renewed.claims, later)).toBe(false);
      // The older token keeps its own expiry.
      expect(tokens.verify(token, now + lifetime)).toBeNull();
    }
  });

  it('should make a revocation outlast every token a session can have', () => {
    const tokens = new SessionTokens([secretA], 60_000, 600_000);
    // A later token than the one known (renewed elsewhere) expires at most a lifetime from now.
    expect(tokens.latestExpiryMs(false, now + 10, now)).toBeGreaterThanOrEqual(now + 60_000);
    expect(tokens.latestExpiryMs(true, now + 10, now)).toBeGreaterThanOrEqual(now + 600_000);
    // And never before the known one.
    expect(tokens.latestExpiryMs(false, now + 900_000, now)).toBeGreaterThanOrEqual(now + 900_000);
  });

  it('should read tokens of version 1 (no flags byte) as sessions without "keep me logged in"', () => {
    // Issued before the flags byte: 1, kid, user id, session id, issued-at, expiry, length, name.
    const secret = secretA;
    const old = { userId: '42', username: 'bob', issuedAtMs: now, expiresAtMs: now + 60_000 };
    const token = olderSessionToken(secret, 1, old);
    expect(new SessionTokens([secret], 60_000).verify(token, now)).toEqual({
      userId: '42',
      username: 'bob',
      sessionId: Buffer.alloc(16, 7).toString('base64url'),
      issuedAtMs: now,
      expiresAtMs: now + 60_000,
      persistent: false,
      validAfterMs: null,
    });
  });

  it('should read tokens of version 2 (no valid-after) with a null one, and renew them with the one given', () => {
    const secret = secretA;
    const old = { userId: '42', username: 'bob', issuedAtMs: now, expiresAtMs: now + 60_000 };
    const token = olderSessionToken(secret, 2, old, true);
    const tokens = new SessionTokens([secret], 60_000);
    const claims = tokens.verify(token, now);
    expect(claims).toEqual({
      userId: '42',
      username: 'bob',
      sessionId: Buffer.alloc(16, 7).toString('base64url'),
      issuedAtMs: now,
      expiresAtMs: now + 60_000,
      persistent: true,
      validAfterMs: null,
    });
    const renewed = tokens.renew(claims as NonNullable<typeof claims>, now + 30_000, 777);
    expect(tokens.verify(renewed.token, now + 30_001)?.validAfterMs).toBe(777);
  });

  it('should name a session by a handle that is neither its id nor its anti-CSRF token', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    const { claims } = tokens.issue(user, now);
    const handle = tokens.handle(claims.sessionId);
    expect(handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(handle).toBe(tokens.handle(claims.sessionId));
    expect(handle).not.toBe(claims.sessionId);
    expect(handle).not.toBe(tokens.csrfToken(claims.sessionId));
    expect(tokens.verify(handle, now)).toBeNull();
    expect(new SessionTokens([secretB], 60_000).handle(claims.sessionId)).not.toBe(handle);
  });

  it('should write every token as the documented bytes, whatever the token before it', () => {
    // The layout of version 3, built here independently of the class: version,
    // key id, user id, session id, issued-at, expiry, flags, valid-after, username
    // length, username.
    const reference = (
      claims: ReturnType<SessionTokens['issue']>['claims'],
      validAfter: number,
    ) => {
      const payload = Buffer.alloc(52 + claims.username.length);
      payload[0] = 3;
      payload[1] = createHash('sha256').update(secretA).digest()[0] as number;
      payload.writeBigUInt64BE(BigInt(claims.userId), 2);
      Buffer.from(claims.sessionId, 'base64url').copy(payload, 10);
      payload.writeBigUInt64BE(BigInt(claims.issuedAtMs), 26);
      payload.writeBigUInt64BE(BigInt(claims.expiresAtMs), 34);
      payload[42] = claims.persistent ? 1 : 0;
      payload.writeBigUInt64BE(BigInt(validAfter), 43);
      payload[51] = claims.username.length;
      payload.write(claims.username, 52, 'latin1');
      const mac = createHmac('sha256', secretA).update(payload).digest();
      return `${payload.toString('base64url')}.${mac.toString('base64url')}`;
    };
    const tokens = new SessionTokens([secretA], 60_000, 30 * 86_400_000);
    // Long then short usernames (nothing of the one before may remain), ids up
    // to 2^64 - 1, times past 2^32 and 2^40 ms, both lifetimes.
    const cases = [
      {
        id: '18446744073709551615',
        username: 'u'.repeat(32),
        at: 2 ** 42 + 123,
        sessionsValidAfterMs: 2 ** 42 + 122,
      },
      { id: '1', username: 'b', at: now, sessionsValidAfterMs: 0 },
      {
        id: '4294967296',
        username: 'Alice.B-1',
        at: 2 ** 32 - 1,
        sessionsValidAfterMs: 2 ** 32 - 2,
      },
      { id: '9223372036854775807', username: 'z', at: 2 ** 40 + 2 ** 32, sessionsValidAfterMs: 5 },
    ];
    for (let round = 0; round < 300; round++) {
      const c = cases[round % cases.length] as (typeof cases)[number];
      const { token, claims } = tokens.issue(c, c.at, round % 2 === 0);
      expect(token).toBe(reference(claims, c.sessionsValidAfterMs));
      expect(tokens.verify(token, c.at + 1)).toEqual(claims);
    }
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

  /**
   * Regression: base64url decoders read several spellings as the same bytes,
   * and every spelling of a token was accepted. Only the one issue() writes is.
   */
  describe('one spelling per token', () => {
    const tokens = new SessionTokens([secretA], 60_000);
    // Payloads of 52 + username bytes: 1, 2 and 0 bytes past a multiple of 3, so
    // the last base64url character carries 4, 2 or no unused bits.
    const issued = ['abc', 'abcd', 'abcde'].map(
      (username) => tokens.issue({ id: '42', username, sessionsValidAfterMs: 0 }, now).token,
    );
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    /** The last character with its lowest bit flipped: unused when the text leaves bits over. */
    const lastBitFlipped = (part: string) =>
      part.slice(0, -1) + alphabet[alphabet.indexOf(part.at(-1) as string) ^ 1];
    const split = (token: string) => token.split('.') as [string, string];
    const respellings: [string, (token: string) => string][] = [
      [
        'unused bits set in the payload',
        (t) => {
          const [payload, mac] = split(t);
          return `${lastBitFlipped(payload)}.${mac}`;
        },
      ],
      [
        'unused bits set in the MAC',
        (t) => {
          const [payload, mac] = split(t);
          return `${payload}.${lastBitFlipped(mac)}`;
        },
      ],
      [
        'a dangling character after the payload',
        (t) => {
          const [payload, mac] = split(t);
          return `${payload}A.${mac}`;
        },
      ],
      [
        'padding on the payload',
        (t) => {
          const [payload, mac] = split(t);
          return `${payload}${'='.repeat((4 - (payload.length % 4)) % 4)}.${mac}`;
        },
      ],
      ['padding on the MAC', (t) => `${t}=`],
      ['standard base64 characters', (t) => t.replaceAll('-', '+').replaceAll('_', '/')],
      [
        'surrounding white space',
        (t) => ` ${t}
`,
      ],
    ];

    it('should accept the token as issued', () => {
      for (const token of issued) expect(tokens.verify(token, now)).not.toBeNull();
    });

    for (const [name, respell] of respellings) {
      it(`should refuse ${name}`, () => {
        let respelled = 0;
        for (const token of issued) {
          const other = respell(token);
          if (other === token) continue;
          respelled++;
          expect({ other, claims: tokens.verify(other, now) }).toEqual({ other, claims: null });
        }
        expect(respelled).toBeGreaterThan(0);
      });
    }

    it('should refuse spellings the decoder reads as the very same bytes', () => {
      // The point of the rows above: without the check these decode to the issued bytes.
      const [payload] = split(issued[0] as string);
      expect(Buffer.from(lastBitFlipped(payload), 'base64url')).toEqual(
        Buffer.from(payload, 'base64url'),
      );
      // 57 bytes are 76 characters: one more character cannot make a byte, so it is dropped.
      const [whole] = split(issued[2] as string);
      expect(Buffer.from(`${whole}A`, 'base64url')).toEqual(Buffer.from(whole, 'base64url'));
    });
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
