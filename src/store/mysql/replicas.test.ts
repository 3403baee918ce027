import { describe, expect, it } from 'bun:test';
import type { RowDataPacket } from 'mysql2/promise';
import pino from 'pino';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import { type ReplicaObserver, ReplicaSet } from './replicas.ts';

/** A database that answers GTID questions from `position` and any other query with its own name. */
class FakeDb {
  active = 0;
  waiting = 0;
  position = '0-1-1';
  /** Thrown by every query while set. */
  failure: unknown = null;
  queries = 0;
  closed = false;

  constructor(readonly name: string) {}

  async rows<T extends RowDataPacket>(sql: string): Promise<T[]> {
    if (this.failure !== null) throw this.failure;
    if (sql.includes('@@gtid')) return [{ pos: this.position }] as unknown as T[];
    this.queries++;
    return [{ from: this.name }] as unknown as T[];
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const outage = () =>
  new RpcError(Status.UNAVAILABLE, MESSAGES.DATABASE_UNAVAILABLE, { cause: 'ECONNREFUSED' });

function setUp(replicaCount = 1, options = { maxLagMs: 1000, checkIntervalMs: 100 }) {
  let now = 0;
  const primary = new FakeDb('primary');
  const replicas = Array.from({ length: replicaCount }, (_, i) => new FakeDb(`r${i + 1}:3306`));
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const events: string[] = [];
  const observer: ReplicaObserver = {
    checked: () => {},
    rotation: (name, serving) => events.push(`${name} ${serving ? 'in' : 'out'}`),
    read: (name, result) => events.push(`${name} ${result}`),
  };
  const set = new ReplicaSet(
    primary,
    replicas.map((db) => ({ name: db.name, db })),
    options,
    log,
    observer,
    () => now,
  );
  const from = async () => {
    const [row] = await set.rows<RowDataPacket>('SELECT ...', []);
    return String(row?.from);
  };
  return {
    set,
    primary,
    replicas,
    lines,
    events,
    from,
    at(ms: number) {
      now = ms;
    },
    /** Lines that say something about rotation. */
    rotationLines: () =>
      lines.filter((l) => String(l.msg).includes('rotation')).map((l) => `${l.replica} ${l.msg}`),
  };
}

describe('unit: ReplicaSet', () => {
  it('should send nothing to a replica before a check found it caught up', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    expect(await t.from()).toBe('primary');
    replica.position = '0-1-0';
    await t.set.check();
    expect(t.set.inRotation()).toEqual([]);
    expect(await t.from()).toBe('primary');
    // Its first check sees a primary position a moment old: not behind, not known either: no warning.
    expect(t.rotationLines()).toEqual([]);
    replica.position = '0-1-1';
    t.at(100);
    await t.set.check();
    expect(await t.from()).toBe('r1:3306');
    expect(t.rotationLines()).toEqual(['r1:3306 mysql replica in rotation']);
  });

  it('should warn about a replica that answers but never catches up, once the bound has passed', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    replica.position = '0-1-0';
    for (let ms = 0; ms <= 1000; ms += 100) {
      t.at(ms);
      await t.set.check();
    }
    expect(t.rotationLines()).toEqual([]);
    t.at(1100);
    await t.set.check();
    t.at(1200);
    await t.set.check();
    expect(t.rotationLines()).toEqual([
      'r1:3306 mysql replica out of rotation (it lags too far): the primary serves its reads',
    ]);
    expect(t.events).toEqual(['r1:3306 out']);
  });

  it('should take a replica out once it is further behind than the bound, and back once it catches up', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    await t.set.check();
    expect(await t.from()).toBe('r1:3306');
    // The primary moves on at 100 ms; the replica stops applying.
    t.primary.position = '0-1-2';
    for (let ms = 100; ms <= 1000; ms += 100) {
      t.at(ms);
      await t.set.check();
    }
    // It still holds everything committed before 0 ms: exactly at the bound.
    expect(await t.from()).toBe('r1:3306');
    t.at(1100);
    await t.set.check();
    expect(await t.from()).toBe('primary');
    const out = t.lines.find((l) => String(l.msg).includes('out of rotation'));
    expect(out).toMatchObject({ replica: 'r1:3306', lagMs: 1100, maxLagMs: 1000, level: 40 });
    expect(String(out?.msg)).toContain('it lags too far');
    replica.position = '0-1-2';
    t.at(1200);
    await t.set.check();
    expect(await t.from()).toBe('r1:3306');
    expect(t.rotationLines()).toEqual([
      'r1:3306 mysql replica in rotation',
      'r1:3306 mysql replica out of rotation (it lags too far): the primary serves its reads',
      'r1:3306 mysql replica in rotation',
    ]);
    expect(t.events.filter((e) => e.endsWith('in') || e.endsWith('out'))).toEqual([
      'r1:3306 in',
      'r1:3306 out',
      'r1:3306 in',
    ]);
  });

  it('should stop reading a replica whose checks stop answering in time, before any check says so', async () => {
    const t = setUp();
    await t.set.check();
    t.at(1000);
    expect(await t.from()).toBe('r1:3306');
    // No check has run since 0 ms (stuck, or the timer starved): its freshness is unknown now.
    t.at(1001);
    expect(await t.from()).toBe('primary');
  });

  it('should answer from the primary when a replica fails a read, and keep it out until a check finds it', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    await t.set.check();
    replica.failure = outage();
    expect(await t.from()).toBe('primary');
    expect(t.events).toEqual(['r1:3306 in', 'r1:3306 fallback', 'r1:3306 out']);
    // Out at once: the next read goes straight to the primary.
    replica.failure = null;
    expect(await t.from()).toBe('primary');
    expect(replica.queries).toBe(0);
    t.at(100);
    await t.set.check();
    expect(await t.from()).toBe('r1:3306');
    expect(t.rotationLines()).toEqual([
      'r1:3306 mysql replica in rotation',
      'r1:3306 mysql replica out of rotation (a read failed): the primary serves its reads',
      'r1:3306 mysql replica in rotation',
    ]);
  });

  it('should take out a replica that does not answer its check, and say why once', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    await t.set.check();
    replica.failure = outage();
    for (let ms = 100; ms <= 500; ms += 100) {
      t.at(ms);
      await t.set.check();
    }
    expect(await t.from()).toBe('primary');
    expect(t.rotationLines()).toEqual([
      'r1:3306 mysql replica in rotation',
      'r1:3306 mysql replica out of rotation (it does not answer): the primary serves its reads',
    ]);
    // Back: it proves its freshness again rather than keeping what it had before it failed.
    replica.failure = null;
    replica.position = '0-1-0';
    t.at(600);
    await t.set.check();
    expect(await t.from()).toBe('primary');
  });

  it('should keep in rotation a replica that fails a read for a reason of the query, and warn', async () => {
    const t = setUp();
    const [replica] = t.replicas as [FakeDb];
    await t.set.check();
    replica.failure = Object.assign(new Error("Unknown column 'totp_secret'"), { errno: 1054 });
    expect(await t.from()).toBe('primary');
    replica.failure = null;
    expect(await t.from()).toBe('r1:3306');
    expect(
      t.lines.some((l) => l.msg === 'a read failed on a replica: the primary answers it'),
    ).toBe(true);
  });

  it('should keep replicas out while the primary position cannot be read', async () => {
    const t = setUp();
    t.primary.failure = Object.assign(new Error("Unknown system variable 'gtid_binlog_pos'"), {
      errno: 1193,
    });
    await t.set.check();
    t.at(100);
    await t.set.check();
    t.primary.failure = null;
    expect(await t.from()).toBe('primary');
    expect(
      t.lines.filter((l) => String(l.msg).startsWith('replica checks cannot read')),
    ).toHaveLength(1);
  });

  it('should prefer the least busy replica in rotation, taking turns among equals', async () => {
    const t = setUp(3);
    const [r1, r2, r3] = t.replicas as [FakeDb, FakeDb, FakeDb];
    await t.set.check();
    const served = [];
    for (let i = 0; i < 6; i++) served.push(await t.from());
    expect(served.sort()).toEqual([
      'r1:3306',
      'r1:3306',
      'r2:3306',
      'r2:3306',
      'r3:3306',
      'r3:3306',
    ]);
    r1.active = 4;
    r3.waiting = 1;
    for (let i = 0; i < 3; i++) expect(await t.from()).toBe('r2:3306');
    r2.position = '0-1-0';
    r2.active = 0;
    t.primary.position = '0-1-5';
    t.at(2000);
    r1.position = '0-1-5';
    r3.position = '0-1-5';
    await t.set.check();
    expect(t.set.inRotation()).toEqual(['r1:3306', 'r3:3306']);
    expect(await t.from()).toBe('r3:3306');
  });

  it('should run checks on a timer until closed, and close every replica pool', async () => {
    const t = setUp(2, { maxLagMs: 100, checkIntervalMs: 5 });
    let checks = 0;
    const check = t.set.check.bind(t.set);
    t.set.check = async () => {
      checks++;
      await check();
    };
    t.set.start();
    const until = performance.now() + 2000;
    while (checks < 3 && performance.now() < until) await Bun.sleep(5);
    expect(checks).toBeGreaterThanOrEqual(3);
    await t.set.close();
    const after = checks;
    await Bun.sleep(30);
    expect(checks).toBe(after);
    expect(t.replicas.every((db) => db.closed)).toBe(true);
    expect(t.primary.closed).toBe(false);
  });
});
