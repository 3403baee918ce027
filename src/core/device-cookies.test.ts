import { describe, expect, it } from 'bun:test';
import { DeviceCookies, passwordMark } from './device-cookies.ts';
import { SessionTokens } from './session-tokens.ts';

const SECRET = 'device-cookie-unit-secret'.padEnd(40, '!');
const DAY = 86_400_000;
const user = {
  id: '123456789',
  username: 'Alice_1',
  passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
  sessionsValidAfterMs: 0,
};
const now = 1_700_000_000_000;

describe('unit: DeviceCookies', () => {
  const devices = new DeviceCookies([SECRET], 30 * DAY);

  it('should give back the user, a random device id and the expiry of a cookie it issued', () => {
    const { cookie, expiresAtMs } = devices.issue(user, now);
    expect(expiresAtMs).toBe(now + 30 * DAY);
    const claims = devices.verify(cookie, now + DAY);
    expect(claims).toMatchObject({ userId: user.id, username: user.username, expiresAtMs });
    expect(claims?.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(devices.verify(devices.issue(user, now).cookie, now)?.deviceId).not.toBe(
      claims?.deviceId,
    );
  });

  it('should tell a cookie earned with a code of two-step login from one earned without', () => {
    const plain = devices.issue(user, now);
    const coded = devices.issue(user, now, true);
    expect(devices.verify(plain.cookie, now)?.secondStep).toBe(false);
    expect(devices.verify(coded.cookie, now)?.secondStep).toBe(true);
    // The mark is signed: a d3 cookie cannot be made a d4 one.
    const [payload = '', mac = ''] = plain.cookie.split('.');
    const raised = Buffer.from(Buffer.from(payload, 'base64url').toString().replace(/^d3/, 'd4'));
    expect(devices.verify(`${raised.toString('base64url')}.${mac}`, now)).toBeNull();
  });

  it('should refuse an expired, altered, foreign or malformed cookie', () => {
    const { cookie } = devices.issue(user, now);
    expect(devices.verify(cookie, now + 30 * DAY)).toBeNull();
    const [payload = '', mac = ''] = cookie.split('.');
    const forged = Buffer.from(
      Buffer.from(payload, 'base64url').toString().replace('Alice_1', 'Bob_111'),
    ).toString('base64url');
    expect(devices.verify(`${forged}.${mac}`, now)).toBeNull();
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    expect(devices.verify(`${payload}.${flipped}`, now)).toBeNull();
    const foreign = new DeviceCookies(['another secret'.padEnd(40, 'x')], DAY).issue(user, now);
    expect(devices.verify(foreign.cookie, now)).toBeNull();
    for (const bad of ['', '.', 'a.b', `${cookie}=`, ` ${cookie}`, `${'A'.repeat(300)}.${mac}`])
      expect(devices.verify(bad, now)).toBeNull();
  });

  it('should accept only the spelling it issued', () => {
    const { cookie } = devices.issue(user, now);
    const [payload = '', mac = ''] = cookie.split('.');
    // The MAC is 32 bytes: 43 characters whose last carries 2 unused bits, zero as issued.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sextet = ALPHABET.indexOf(mac.slice(-1));
    const respelled = `${mac.slice(0, -1)}${ALPHABET[sextet | 1]}`;
    expect(respelled).not.toBe(mac);
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(mac, 'base64url'))).toBe(true);
    expect(devices.verify(`${payload}.${respelled}`, now)).toBeNull();
  });

  it('should not take a session token for a device cookie (own key label)', () => {
    const { token } = new SessionTokens([SECRET], DAY).issue(user, now);
    expect(devices.verify(token, now)).toBeNull();
  });

  it('should verify with every secret and sign with the first (rotation)', () => {
    const old = new DeviceCookies(['old secret'.padEnd(40, 'o')], DAY).issue(user, now);
    const rotated = new DeviceCookies(
      ['new secret'.padEnd(40, 'n'), 'old secret'.padEnd(40, 'o')],
      DAY,
    );
    expect(rotated.verify(old.cookie, now)?.username).toBe(user.username);
    const fresh = rotated.issue(user, now).cookie;
    expect(
      new DeviceCookies(['new secret'.padEnd(40, 'n')], DAY).verify(fresh, now),
    ).not.toBeNull();
  });

  it('should carry a mark of the password hash it was earned with, and only of that one', () => {
    const { cookie } = devices.issue(user, now);
    const claims = devices.verify(cookie, now);
    expect(claims?.passwordMark).toBe(passwordMark(user.passwordHash));
    expect(claims?.passwordMark).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(passwordMark(`${user.passwordHash}x`)).not.toBe(claims?.passwordMark);
  });
});
