import { describe, expect, it } from 'bun:test';
import type { ExecuteValues, RowDataPacket } from 'mysql2/promise';
import { LookupBatcher } from './lookup-batch.ts';

interface NameRow extends RowDataPacket {
  name: string;
}

/** A table of names, matched case-insensitively; every statement is recorded. */
class FakeDb {
  statements: { sql: string; params: string[] }[] = [];
  /** Statements that fail: those whose parameters include this key. */
  failOn: string | null = null;

  constructor(private readonly names: string[]) {}

  async rows<T extends RowDataPacket>(sql: string, params: ExecuteValues[]): Promise<T[]> {
    const asked = params.map(String);
    this.statements.push({ sql, params: asked });
    await Bun.sleep(1);
    if (this.failOn !== null && asked.includes(this.failOn)) throw new Error('connection lost');
    const wanted = new Set(asked);
    return this.names
      .filter((name) => wanted.has(name.toLowerCase()))
      .map((name) => ({ name }) as unknown as T);
  }
}

const KIND = {
  statement: (size: number) => `IN ${size}`,
  keyOf: (row: NameRow) => row.name.toLowerCase(),
};

function setUp(names: string[]) {
  const db = new FakeDb(names);
  return { db, batcher: new LookupBatcher<NameRow>(db, KIND) };
}

describe('LookupBatcher', () => {
  it('should read the keys of one turn in one statement, each lookup getting its own row', async () => {
    const { db, batcher } = setUp(['Alice', 'bob', 'CAROL']);
    const found = await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((key) => batcher.find(key)),
    );
    expect(found.map((row) => row?.name ?? null)).toEqual(['Alice', 'bob', 'CAROL', null]);
    expect(db.statements).toHaveLength(1);
    expect(db.statements[0]?.sql).toBe('IN 4');
  });

  it('should ask for a key once however many lookups of it wait', async () => {
    const { db, batcher } = setUp(['alice']);
    const found = await Promise.all(Array.from({ length: 5 }, () => batcher.find('alice')));
    expect(found.every((row) => row?.name === 'alice')).toBe(true);
    expect(db.statements).toEqual([{ sql: 'IN 1', params: ['alice'] }]);
  });

  it('should pad a chunk to the next size with its own first key', async () => {
    const { db, batcher } = setUp(['a1', 'a2']);
    await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5'].map((key) => batcher.find(key)));
    expect(db.statements).toEqual([
      {
        sql: 'IN 16',
        params: ['a1', 'a2', 'a3', 'a4', 'a5', ...Array(11).fill('a1')],
      },
    ]);
  });

  it('should cut a large turn into statements of at most 64 keys', async () => {
    const names = Array.from({ length: 150 }, (_, i) => `user${i}`);
    const { db, batcher } = setUp(names);
    const found = await Promise.all(names.map((key) => batcher.find(key)));
    expect(found.map((row) => row?.name)).toEqual(names);
    expect(db.statements.map((s) => s.sql)).toEqual(['IN 64', 'IN 64', 'IN 64']);
    // 22 keys in the last chunk, padded to 64.
    expect(new Set(db.statements[2]?.params).size).toBe(22);
  });

  it('should read lookups of later turns in statements of their own', async () => {
    const { db, batcher } = setUp(['alice', 'bob']);
    expect((await batcher.find('alice'))?.name).toBe('alice');
    expect((await batcher.find('bob'))?.name).toBe('bob');
    expect(db.statements.map((s) => s.params)).toEqual([['alice'], ['bob']]);
  });

  it('should fail the lookups of a failed statement, and only those', async () => {
    const names = Array.from({ length: 70 }, (_, i) => `user${i}`);
    const { db, batcher } = setUp(names);
    db.failOn = 'user65';
    const outcomes = await Promise.all(
      names.map((key) =>
        batcher.find(key).then(
          (row) => row?.name ?? null,
          (error: Error) => error.message,
        ),
      ),
    );
    expect(outcomes.slice(0, 64)).toEqual(names.slice(0, 64));
    expect(outcomes.slice(64)).toEqual(Array(6).fill('connection lost'));
    // The next turn reads again.
    db.failOn = null;
    expect((await batcher.find('user65'))?.name).toBe('user65');
  });
});
