import { describe, expect, it } from 'bun:test';
import { AdminToken } from './admin-token.ts';

const TOKEN = 'k9Zl1mV0q3c2yWf8bNn4tH7sR6uE5aP0xJ2gD1oL';

describe('unit: AdminToken', () => {
  it('should accept exactly the configured token', () => {
    const token = new AdminToken(TOKEN);
    expect(token.enabled).toBe(true);
    expect(token.check(TOKEN)).toBe('ok');
    for (const wrong of [
      '',
      TOKEN.slice(0, -1),
      `${TOKEN}x`,
      TOKEN.toLowerCase(),
      ` ${TOKEN}`,
      'x'.repeat(5000),
    ]) {
      expect(token.check(wrong)).toBe('denied');
    }
  });

  it('should be off, whatever is presented, when no token is configured', () => {
    const token = new AdminToken('');
    expect(token.enabled).toBe(false);
    expect(token.check('')).toBe('off');
    expect(token.check(TOKEN)).toBe('off');
  });
});
