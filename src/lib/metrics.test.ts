import { describe, expect, it, spyOn } from 'bun:test';
import v8 from 'node:v8';
import { createRegistry, EXPENSIVE_DEFAULTS, histogram, timed } from './metrics.ts';

class Adapter {
  async find(id: string): Promise<string> {
    return this.normalise(id);
  }

  async fail(): Promise<never> {
    throw new Error('down');
  }

  /** Called only by the adapter itself. */
  private normalise(id: string): string {
    return id.trim();
  }
}

describe('unit: timed()', () => {
  it('should time the operations called through it, and make no series of private helpers', async () => {
    const registry = createRegistry('tcp', false);
    const metric = histogram(registry, 'test_duration_seconds', 'Test.', ['operation', 'outcome']);
    const adapter = timed(new Adapter(), metric);
    expect(await adapter.find(' a ')).toBe('a');
    await expect(adapter.fail()).rejects.toThrow('down');
    const text = await registry.metrics();
    expect(text).toContain(
      'test_duration_seconds_count{process="tcp",operation="find",outcome="ok"} 1',
    );
    expect(text).toContain(
      'test_duration_seconds_count{process="tcp",operation="fail",outcome="error"} 1',
    );
    expect(text).not.toContain('normalise');
  });
});

describe('unit: createRegistry', () => {
  // Bun walks the whole heap for v8.getHeapSpaceStatistics(): a scrape took
  // 230 ms of the event loop with two million objects in the heap.
  it('should keep the process metrics whose scrape costs the heap a walk out', async () => {
    const spaces = spyOn(v8, 'getHeapSpaceStatistics');
    const heap = spyOn(v8, 'getHeapStatistics');
    try {
      const registry = createRegistry('tcp');
      spaces.mockClear();
      heap.mockClear();
      const text = await registry.metrics();
      expect(spaces).not.toHaveBeenCalled();
      expect(heap).not.toHaveBeenCalled();
      for (const name of EXPENSIVE_DEFAULTS) expect(text).not.toContain(name);
      // What process.memoryUsage() gives cheaply is still there, and the event-loop lag.
      expect(text).toContain('nodejs_heap_size_used_bytes{process="tcp"}');
      expect(text).toContain('nodejs_eventloop_lag_p99_seconds{process="tcp"}');
      registry.clear();
    } finally {
      spaces.mockRestore();
      heap.mockRestore();
    }
  });
});
