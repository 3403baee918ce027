import { describe, expect, it } from 'bun:test';
import type { Context } from 'hono';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type HeldSlot, readInTime, UploadSlots } from './upload.ts';

describe('unit: UploadSlots', () => {
  /** Takes a slot: 'taken' and the slot, or the refusal's message. */
  function take(slots: UploadSlots, address: string, user: string) {
    const held = slots.take({ address, user });
    return held instanceof RpcError ? { told: held.message } : { told: 'taken', held };
  }
  const told = (slots: UploadSlots, address: string, user: string) =>
    take(slots, address, user).told;

  it('should give at most max slots, and at most two to one client (an IPv6 client by its /64)', () => {
    const slots = new UploadSlots(3);
    const first = take(slots, '192.0.2.1', 'u1');
    expect([first.told, told(slots, '192.0.2.1', 'u2'), told(slots, '192.0.2.1', 'u3')]).toEqual([
      'taken',
      'taken',
      MESSAGES.UPLOADS_BUSY,
    ]);
    const v6 = take(slots, '2001:db8:1:2::1', 'u4');
    expect(v6.told).toBe('taken');
    expect(told(slots, '192.0.2.9', 'u5')).toBe(MESSAGES.UPLOADS_BUSY); // all three taken
    slots.release(first.held as HeldSlot);
    expect(told(slots, '2001:db8:1:2::ffff', 'u6')).toBe('taken'); // the same /64: its second
    expect(told(slots, '2001:db8:1:2::7', 'u7')).toBe(MESSAGES.UPLOADS_BUSY);
    slots.release(v6.held as HeldSlot);
    expect(told(slots, '192.0.2.9', 'u8')).toBe('taken');
  });

  // An attack audit: one account held every slot from four addresses, two slow bodies each.
  it('should give one user one slot, whatever its addresses, and the next once it is released', () => {
    const slots = new UploadSlots(8);
    const first = take(slots, '192.0.2.2', 'mallory');
    expect(first.told).toBe('taken');
    for (const address of ['192.0.2.2', '192.0.2.3', '2001:db8::1']) {
      const refused = slots.take({ address, user: 'mallory' }) as RpcError;
      expect([refused.code, refused.field, refused.message, refused.retryAfterS]).toEqual([
        Status.RESOURCE_EXHAUSTED,
        'picture',
        MESSAGES.UPLOAD_UNDER_WAY,
        1,
      ]);
    }
    expect(told(slots, '192.0.2.3', 'alice')).toBe('taken');
    slots.release(first.held as HeldSlot);
    slots.release(first.held as HeldSlot); // twice: counted once
    expect(told(slots, '192.0.2.4', 'mallory')).toBe('taken');
  });

  // Many accounts trickling their bodies held every slot for as long as they reconnected.
  it('should give the slot of the slowest body past its grace to a newcomer when every slot is taken', () => {
    const clock = { now: 0 };
    const slots = new UploadSlots(2, () => clock.now);
    const evicted: string[] = [];
    const reading = (user: string, address: string) => {
      const held = slots.take({ address, user }) as HeldSlot;
      held.evict = () => evicted.push(user);
      return held;
    };
    const trickle = reading('slow', '192.0.2.1');
    const fast = reading('fast', '192.0.2.2');
    clock.now = 4000; // within the grace: nobody gives way
    expect(told(slots, '192.0.2.3', 'new1')).toBe(MESSAGES.UPLOADS_BUSY);
    clock.now = 6000;
    trickle.bytes = 6000; // 1 KiB/s
    fast.bytes = 3_000_000; // 500 KB/s
    expect(told(slots, '192.0.2.3', 'new1')).toBe('taken');
    expect(evicted).toEqual(['slow']);
    // The one given up is gone (its release comes); the fast one is never given up.
    expect(told(slots, '192.0.2.4', 'new2')).toBe(MESSAGES.UPLOADS_BUSY);
    expect(evicted).toEqual(['slow']);
    slots.release(trickle);
    expect(told(slots, '192.0.2.4', 'new2')).toBe(MESSAGES.UPLOADS_BUSY); // still two reading
    // A body read whole (evict cleared) is not a slow body, whatever its rate was.
    fast.evict = null;
    fast.bytes = 10;
    clock.now = 60_000;
    expect(told(slots, '192.0.2.5', 'new3')).toBe(MESSAGES.UPLOADS_BUSY);
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
