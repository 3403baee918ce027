import { describe, expect, it } from 'bun:test';
import type { Context } from 'hono';
import { Status } from '../wire/status.ts';
import { readInTime, UploadSlots } from './upload.ts';

describe('unit: UploadSlots', () => {
  it('should give at most max slots, and at most two to one client (an IPv6 client by its /64)', () => {
    const slots = new UploadSlots(3);
    expect([slots.take('192.0.2.1'), slots.take('192.0.2.1'), slots.take('192.0.2.1')]).toEqual([
      true,
      true,
      false,
    ]);
    expect(slots.take('2001:db8:1:2::1')).toBe(true);
    expect(slots.take('192.0.2.9')).toBe(false); // all three taken
    slots.release('192.0.2.1');
    expect(slots.take('2001:db8:1:2::ffff')).toBe(true); // the same /64: its second
    expect(slots.take('2001:db8:1:2::7')).toBe(false);
    slots.release('2001:db8:1:2::1');
    expect(slots.take('192.0.2.9')).toBe(true);
  });
});

describe('unit: readInTime', () => {
  it('should refuse a body that has not arrived in time, closing the connection after the answer', async () => {
    const headers: Record<string, string> = {};
    const c = {
      header: (name: string, value: string) => {
        headers[name] = value;
      },
    };
    const never = new Promise<never>(() => {});
    const err = await readInTime(c as unknown as Context, never, 30).catch((e) => e);
    expect([err.code, err.field, err.message]).toEqual([
      Status.INVALID_ARGUMENT,
      'picture',
      'the picture did not arrive within 0.03 s: try a smaller one, or a faster connection',
    ]);
    expect(headers).toEqual({ Connection: 'close' });
    expect(await readInTime(c as unknown as Context, Promise.resolve('body'), 30)).toBe('body');
  });
});
