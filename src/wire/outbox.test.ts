import { describe, expect, it } from 'bun:test';
import { type ByteSink, Outbox } from './outbox.ts';

/** A sink that accepts at most `room` bytes per write, like a full socket buffer. */
class ChokedSink implements ByteSink {
  writes: Uint8Array[] = [];
  constructor(public room: number) {}
  write(data: Uint8Array): number {
    const n = Math.min(this.room, data.length);
    this.writes.push(data.slice(0, n));
    return n;
  }
  received(): number[] {
    return [...Buffer.concat(this.writes)];
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('unit: Outbox', () => {
  it('should send the frames of one turn in one write', async () => {
    const sink = new ChokedSink(1 << 20);
    const outbox = new Outbox(sink);
    for (let i = 0; i < 100; i++) outbox.push(new Uint8Array([i]));
    expect(sink.writes.length).toBe(0);
    await nextTurn();
    expect(sink.writes.length).toBe(1);
    expect(sink.received()).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('should keep unwritten bytes in order and write nothing more until drain', async () => {
    const sink = new ChokedSink(3);
    const outbox = new Outbox(sink);
    outbox.push(new Uint8Array([1, 2, 3, 4, 5]));
    await nextTurn();
    expect(sink.received()).toEqual([1, 2, 3]);
    expect(outbox.bufferedBytes).toBe(2);
    outbox.push(new Uint8Array([6, 7]));
    await nextTurn();
    expect(sink.writes.length).toBe(1); // still waiting for drain
    expect(outbox.bufferedBytes).toBe(4);
    sink.room = 100;
    outbox.drain();
    expect(sink.received()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(outbox.bufferedBytes).toBe(0);
  });

  it('should treat a closed socket (negative return) as nothing written', async () => {
    const outbox = new Outbox({ write: () => -1 });
    outbox.push(new Uint8Array([1, 2]));
    await nextTurn();
    expect(outbox.bufferedBytes).toBe(2);
    outbox.close();
    expect(outbox.bufferedBytes).toBe(0);
    outbox.push(new Uint8Array([3]));
    expect(outbox.bufferedBytes).toBe(0);
  });
});
