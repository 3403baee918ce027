/**
 * MariaDB GTID positions (`@@gtid_binlog_pos`, `@@gtid_slave_pos`): one
 * `domain-server-sequence` per replication domain, comma-separated, e.g.
 * `0-1-42,1-3-7`. Within a domain the sequence number only grows, so "has
 * the replica applied everything in this position" is a comparison of
 * sequence numbers per domain; the server id is ignored (it changes when
 * another server becomes the primary of the domain).
 */

/** Sequence number per domain id. */
export type GtidPosition = ReadonlyMap<number, bigint>;

const GTID = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;

/** The position in a `gtid_*_pos` text; null when the text is not one. '' is the empty position. */
export function parseGtidPosition(text: string): GtidPosition | null {
  const position = new Map<number, bigint>();
  for (const part of text.split(',')) {
    const gtid = part.trim();
    if (gtid === '') continue;
    const match = GTID.exec(gtid);
    if (match === null) return null;
    const domain = Number(match[1]);
    const sequence = BigInt(match[3] as string);
    // MariaDB lists each domain once; keep the highest if a text ever repeats one.
    if ((position.get(domain) ?? -1n) < sequence) position.set(domain, sequence);
  }
  return position;
}

/** True when `applied` holds every transaction of `target`: each domain at least as far. */
export function hasReached(applied: GtidPosition, target: GtidPosition): boolean {
  for (const [domain, sequence] of target) {
    if ((applied.get(domain) ?? -1n) < sequence) return false;
  }
  return true;
}

/** Same transactions in both (for telling a new primary position from the last one seen). */
export function samePosition(a: GtidPosition, b: GtidPosition): boolean {
  return a.size === b.size && hasReached(a, b) && hasReached(b, a);
}
