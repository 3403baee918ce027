import { Database } from 'bun:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../log.ts';
import {
  loadMigrations,
  migrate,
  migrationsDir,
  NEWER_SCHEMA,
  splitStatements,
} from './migrate.ts';
import { sqliteMigrationTarget } from './sqlite/migration-target.ts';

describe('unit: splitStatements', () => {
  it('should split on line-ending semicolons and drop comment lines', () => {
    const sql = [
      '-- a comment; with a semicolon;',
      'CREATE TABLE a (',
      "  x TEXT DEFAULT 'a;b'",
      ');',
      '',
      '  INSERT INTO a VALUES (1);  ',
      'INSERT INTO a',
      '  VALUES (2);',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      "CREATE TABLE a (\n  x TEXT DEFAULT 'a;b'\n)",
      'INSERT INTO a VALUES (1)',
      'INSERT INTO a\n  VALUES (2)',
    ]);
  });

  it('should refuse a statement without its final semicolon', () => {
    expect(() => splitStatements('CREATE TABLE a (x INT);\nCREATE TABLE b (y INT)')).toThrow(
      "without a final ';'",
    );
  });

  it('should find nothing in a file of comments', () => {
    expect(splitStatements('-- nothing here\n\n')).toEqual([]);
  });
});

describe('unit: migrate on SQLite', () => {
  let dir: string;
  let db: Database;

  function write(file: string, sql: string): void {
    writeFileSync(join(dir, file), sql);
  }

  async function run(): Promise<number[]> {
    return migrate(sqliteMigrationTarget(db), await loadMigrations(dir), silentLogger, () => 1234);
  }

  function tables(): string[] {
    return db
      .query<{ name: string }, []>(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
      )
      .all()
      .map((row) => row.name);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'usermgr-migrate-'));
    db = new Database(':memory:', { strict: true });
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should apply files in numeric order and record them', async () => {
    write('10_later.sql', 'ALTER TABLE a ADD COLUMN y INTEGER;');
    write('2_first.sql', 'CREATE TABLE a (x INTEGER);\nCREATE TABLE b (x INTEGER);');
    expect(await run()).toEqual([2, 10]);
    expect(tables()).toEqual(['a', 'b', 'schema_migrations']);
    expect(db.query('SELECT version, name, applied_at FROM schema_migrations').all()).toEqual([
      { version: 2, name: 'first', applied_at: 1234 },
      { version: 10, name: 'later', applied_at: 1234 },
    ]);
  });

  it('should apply only what is pending', async () => {
    write('001_a.sql', 'CREATE TABLE a (x INTEGER);');
    expect(await run()).toEqual([1]);
    expect(await run()).toEqual([]);
    write('002_b.sql', 'CREATE TABLE b (x INTEGER);');
    expect(await run()).toEqual([2]);
    expect(tables()).toEqual(['a', 'b', 'schema_migrations']);
  });

  it('should refuse a database that records a migration it has no file for', async () => {
    write('001_a.sql', 'CREATE TABLE a (x INTEGER);');
    write('002_b.sql', 'CREATE TABLE b (x INTEGER);');
    await run();
    rmSync(join(dir, '002_b.sql'));
    write('003_c.sql', 'CREATE TABLE c (x INTEGER);');
    await expect(run()).rejects.toThrow('does not have (002_b)');
    await expect(run()).rejects.toMatchObject({ code: NEWER_SCHEMA });
    expect(tables()).not.toContain('c');
  });

  it('should apply nothing when a file fails', async () => {
    write('001_a.sql', 'CREATE TABLE a (x INTEGER);');
    write('002_bad.sql', 'CREATE TABLE b (x INTEGER);\nTHIS IS NOT SQL;');
    await expect(run()).rejects.toThrow();
    expect(tables()).toEqual([]);
    expect(db.inTransaction).toBe(false);
  });

  it('should refuse badly named and duplicate files', async () => {
    write('001_a.sql', 'SELECT 1;');
    write('first.sql', 'SELECT 1;');
    await expect(loadMigrations(dir)).rejects.toThrow('NNN_name.sql');
    rmSync(join(dir, 'first.sql'));
    write('01_b.sql', 'SELECT 1;');
    await expect(loadMigrations(dir)).rejects.toThrow('two migration files have version 1');
  });

  it('should ignore files that are not .sql', async () => {
    write('README.md', '# notes');
    write('001_a.sql', 'SELECT 1;');
    expect((await loadMigrations(dir)).map((m) => m.name)).toEqual(['a']);
  });
});

describe('unit: the shipped migrations', () => {
  it('should have the same numbers and names for every engine', () => {
    const mysql = readdirSync(migrationsDir('mysql')).sort();
    expect(mysql.length).toBeGreaterThan(0);
    expect(readdirSync(migrationsDir('sqlite')).sort()).toEqual(mysql);
  });

  it('should parse', async () => {
    for (const engine of ['mysql', 'sqlite'] as const) {
      for (const migration of await loadMigrations(migrationsDir(engine))) {
        expect(migration.statements.length).toBeGreaterThan(0);
      }
    }
  });
});
