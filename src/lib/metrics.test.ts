import { describe, expect, it } from 'bun:test';
import { createRegistry, histogram, timed } from './metrics.ts';

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
