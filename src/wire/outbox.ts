/**
 * Outbox: the write side of one socket, shared by the pool and the TCP server.
 * Invariants:
 * - frames queued during one event-loop turn leave in ONE socket write, made
 *   by a single setImmediate for all outboxes (a syscall per frame was the
 *   largest cost found in the prototypes);
 * - bytes the socket did not accept are kept, in order, and written when the
 *   socket reports `drain`; nothing is written while such bytes are pending;
 * - `bufferedBytes` counts everything queued but not yet accepted, so owners
 *   can bound memory per connection.
 */

/** The part of a socket an outbox needs. Returns bytes accepted (< 0 when closed). */
export interface ByteSink {
  write(data: Uint8Array): number;
}

const dirty: Outbox[] = [];

function flushDirty(): void {
  // Outboxes that become dirty while flushing schedule a new turn.
  const batch = dirty.splice(0, dirty.length);
  for (const outbox of batch) outbox.flush();
}

export class Outbox {
  private chunks: Uint8Array[] = [];
  private queued = 0;
  private scheduled = false;
  private waitingForDrain = false;
  private closed = false;

  constructor(private readonly sink: ByteSink) {}

  get bufferedBytes(): number {
    return this.queued;
  }

  push(frame: Uint8Array): void {
    if (this.closed) return;
    this.chunks.push(frame);
    this.queued += frame.length;
    if (this.scheduled || this.waitingForDrain) return;
    this.scheduled = true;
    if (dirty.length === 0) setImmediate(flushDirty);
    dirty.push(this);
  }

  /** Writes what is queued now. Normally called by the scheduler, not by owners. */
  flush(): void {
    this.scheduled = false;
    if (this.waitingForDrain || this.queued === 0 || this.closed) return;
    const data =
      this.chunks.length === 1 ? (this.chunks[0] as Uint8Array) : Buffer.concat(this.chunks);
    const written = Math.max(0, this.sink.write(data));
    if (written >= data.length) {
      this.chunks = [];
      this.queued = 0;
      return;
    }
    this.chunks = [data.subarray(written)];
    this.queued = data.length - written;
    this.waitingForDrain = true;
  }

  /** The socket accepts bytes again. */
  drain(): void {
    this.waitingForDrain = false;
    this.flush();
  }

  /** Drops everything queued; later pushes are ignored. */
  close(): void {
    this.closed = true;
    this.chunks = [];
    this.queued = 0;
  }
}
