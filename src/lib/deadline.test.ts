import { describe, expect, it } from 'bun:test';
import { Deadline, SharedDeadline, withTimeout } from './deadline.ts';

describe('unit: Deadline', () => {
  it('should count down on performance.now()', () => {
    const deadline = Deadline.after(1000);
    const now = performance.now();
    expect(deadline.remainingMs(now)).toBeGreaterThan(990);
    expect(deadline.remainingMs(now)).toBeLessThanOrEqual(1000);
    expect(deadline.expired(now)).toBe(false);
    expect(deadline.expired(now + 1000)).toBe(true);
    expect(Deadline.after(-1).expired()).toBe(true);
  });

  it('should abort its signal once when cancelled, whether the signal was asked for before or after', () => {
    const early = Deadline.after(1000);
    let aborts = 0;
    early.signal.addEventListener('abort', () => aborts++);
    expect(early.cancelled).toBe(false);
    early.cancel();
    early.cancel();
    expect(early.cancelled).toBe(true);
    expect(aborts).toBe(1);

    const late = Deadline.after(1000);
    late.cancel();
    expect(late.cancelled).toBe(true);
    expect(late.signal.aborted).toBe(true);
  });

  it("should follow the caller's signal when given one", () => {
    const controller = new AbortController();
    const deadline = Deadline.after(1000, controller.signal);
    deadline.cancel(); // not its holder's to cancel
    expect(deadline.cancelled).toBe(false);
    controller.abort();
    expect(deadline.cancelled).toBe(true);
    expect(deadline.signal).toBe(controller.signal);
  });
});

describe('unit: withTimeout', () => {
  it('should give the result of work that settles in time', async () => {
    expect(await withTimeout(Promise.resolve(7), 1000, () => 'late')).toBe(7);
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, () => 0)).rejects.toThrow(
      'boom',
    );
  });

  it('should resolve with, or throw, what onTimeout gives when work is late', async () => {
    const never = new Promise<number>(() => {});
    expect(await withTimeout(never, 10, () => 'late')).toBe('late');
    await expect(
      withTimeout(never, 10, () => {
        throw new Error('took too long');
      }),
    ).rejects.toThrow('took too long');
  });

  it('should not call onTimeout after work settled', async () => {
    let called = false;
    await withTimeout(Promise.resolve(1), 5, () => {
      called = true;
    });
    await Bun.sleep(20);
    expect(called).toBe(false);
  });
});

describe('unit: SharedDeadline', () => {
  it('should be cancelled only when every caller that joined is gone', () => {
    const first = Deadline.after(1000);
    const second = Deadline.after(5000);
    const shared = new SharedDeadline(first);
    shared.join(second);
    expect(shared.deadline.remainingMs()).toBeLessThanOrEqual(first.remainingMs() + 1);
    first.cancel();
    expect(shared.deadline.cancelled).toBe(false);
    second.cancel();
    expect(shared.deadline.cancelled).toBe(true);
  });

  it('should count a caller that joins already gone as gone', () => {
    const gone = Deadline.after(1000);
    gone.cancel();
    expect(new SharedDeadline(gone).deadline.cancelled).toBe(true);
  });
});
