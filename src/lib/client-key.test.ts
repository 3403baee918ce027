import { describe, expect, it } from 'bun:test';
import { clientKey } from './client-key.ts';

describe('unit: clientKey', () => {
  it('should keep an IPv4 address as it is', () => {
    expect(clientKey('192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('198.51.100.17')).not.toBe(clientKey('198.51.100.18'));
  });

  // Issue 14, item 7: every IPv6 address had a budget of its own, and a
  // client picks its interface id freely inside its /64.
  it('should make every IPv6 address of one /64 one key, however it is written', () => {
    const key = clientKey('2001:db8:0:1::1');
    expect(key).toBe('2001:db8:0:1::/64');
    for (const same of [
      '2001:db8:0:1:ffff:ffff:ffff:ffff',
      '2001:0DB8:0000:0001:0:0:0:2',
      '[2001:db8:0:1::3]',
      '[2001:db8:0:1::4]:443',
      '2001:db8:0:1:a:b:c:d%eth0',
      '2001:db8:0:1::1.2.3.4',
    ])
      expect(clientKey(same)).toBe(key);
    expect(clientKey('2001:db8:0:2::1')).not.toBe(key);
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::')).toBe('0:0:0:0::/64');
    expect(clientKey('2001:db8::')).toBe('2001:db8:0:0::/64');
  });

  it('should see an IPv4 client through a dual-stack socket as its IPv4 address', () => {
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('::ffff:c000:201')).toBe('192.0.2.1');
  });

  it('should keep anything else as it is, the empty address included', () => {
    expect(clientKey('')).toBe('');
    expect(clientKey('unknown')).toBe('unknown');
    expect(clientKey('2001:db8::g')).toBe('2001:db8::g');
  });
});
