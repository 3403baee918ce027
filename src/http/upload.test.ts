import { describe, expect, it } from 'bun:test';
import type { Context } from 'hono';
import { MESSAGES } from '../wire/messages.ts';
import { Status } from '../wire/status.ts';
import { readInTime, UploadSlots } from './upload.ts';

describe('unit: UploadSlots', () => {
  const took = (slots: UploadSlots, address: string, user: string) =>
    slots.take({ address, user })?.message ?? 'taken';

  it('should give at most max slots, and at most two to one client (an IPv6 client by its /64)', () => {
    const slots = new UploadSlots(3);
    expect([
      took(slots, '192.0.2.1', 'u1'),
      took(slots, '192.0.2.1', 'u2'),
      took(slots, '192.0.2.1', 'u3'),
    ]).toEqual(['taken', 'taken', MESSAGES.UPLOADS_BUSY]);
    expect(took(slots, '2001:db8:1:2::1', 'u4')).toBe('taken');
    expect(took(slots, '192.0.2.9', 'u5')).toBe(MESSAGES.UPLOADS_BUSY); // all three taken
    slots.release({ address: '192.0.2.1', user: 'u1' });
    expect(took(slots, '2001:db8:1:2::ffff', 'u6')).toBe('taken'); // the same /64: its second
    expect(took(slots, '2001:db8:1:2::7', 'u7')).toBe(MESSAGES.UPLOADS_BUSY);
    slots.release({ address: '2001:db8:1:2::1', user: 'u4' });
    expect(took(slots, '192.0.2.9', 'u8')).toBe('taken');
  });

  // An attack audit: one account held every slot from four addresses, two slow bodies each.
  it('should give one user one slot, whatever its addresses, and the next once it is released', () => {
    const slots = new UploadSlots(8);
    expect(took(slots, '192.0.2.2', 'mallory')).toBe('taken');
    for (const address of ['192.0.2.2', '192.0.2.3', '2001:db8::1']) {
      const refused = slots.take({ address, user: 'mallory' });
      expect([refused?.code, refused?.field, refused?.message, refused?.retryAfterS]).toEqual([
        Status.RESOURCE_EXHAUSTED,
        'picture',
        MESSAGES.UPLOAD_UNDER_WAY,
        1,
      ]);
    }
    expect(took(slots, '192.0.2.3', 'alice')).toBe('taken');
    slots.release({ address: '192.0.2.2', user: 'mallory' });
    expect(took(slots, '192.0.2.4', 'mallory')).toBe('taken');
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
