import { describe, expect, it } from 'bun:test';
import { Deadline } from './deadline.ts';
import { Semaphore } from './semaphore.ts';

const later = (ms: number) => Deadline.after(ms);

describe('unit: Semaphore', () => {
  it('should grant permits at once up to the limit, then queue in order', async () => {
    const s = new Semaphore(2, 10);
    expect(s.acquire(later(100))).toBe('acquired');
    expect(s.acquire(later(100))).toBe('acquired');
    const order: number[] = [];
    const a = Promise.resolve(s.acquire(later(1000))).then((r) => order.push(1) && r);
    const b = Promise.resolve(s.acquire(later(1000))).then((r) => order.push(2) && r);
    expect(s.waiting).toBe(2);
    s.release();
    s.release();
    expect(await Promise.all([a, b])).toEqual(['acquired', 'acquired']);
    expect(order).toEqual([1, 2]);
    expect(s.active).toBe(2);
  });

  it('should refuse at once when the queue is full', () => {
    const s = new Semaphore(1, 1);
    s.acquire(later(100));
    void s.acquire(later(100));
    expect(s.acquire(later(100))).toBe('busy');
  });

  it('should give up at the deadline and leave the queue', async () => {
    const s = new Semaphore(1, 5);
    s.acquire(later(1000));
    const started = performance.now();
    expect(await s.acquire(later(50))).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(s.waiting).toBe(0);
    expect(s.acquire(later(-1))).toBe('timeout');
  });

  it('should release the permit when the task fails', async () => {
    const s = new Semaphore(1, 1);
    const refuse = (): never => {
      throw new Error('refused');
    };
    await expect(
      s.run(later(100), async () => Promise.reject(new Error('task failed')), refuse),
    ).rejects.toThrow('task failed');
    expect(s.active).toBe(0);
    expect(await s.run(later(100), async () => 42, refuse)).toBe(42);
  });

  it('should drop a waiter whose caller is gone at once, and pass the permit on to the next', async () => {
    const s = new Semaphore(1, 5);
    s.acquire(later(1000));
    const gone = later(1000);
    const stays = Promise.resolve(s.acquire(later(1000)));
    const leaving = Promise.resolve(s.acquire(gone));
    const after = Promise.resolve(s.acquire(later(1000)));
    expect(s.waiting).toBe(3);
    gone.cancel();
    expect(await leaving).toBe('cancelled');
    expect(s.waiting).toBe(2);
    s.release();
    expect(await stays).toBe('acquired');
    s.release();
    expect(await after).toBe('acquired');
    expect(s.active).toBe(1);
  });

  it('should not queue, nor take a free permit, for a caller already gone', () => {
    const free = new Semaphore(1, 5);
    const gone = later(1000);
    gone.cancel();
    expect(free.acquire(gone)).toBe('cancelled');
    expect(free.active).toBe(0);
  });
});
