/**
 * Migration runner: brings a database to the schema in `sql/<engine>/`.
 *
 * Files are named `NNN_name.sql` (`001_users.sql`) and applied in numeric
 * order; each applied one is recorded in `schema_migrations(version, name,
 * applied_at)`. Invariants:
 * - only versions the database has not recorded are applied, each once, in
 *   order, and a version is recorded only after all its statements succeeded;
 * - everything happens while holding the engine's migration lock, so two
 *   servers starting at once apply each version once (MySQL: GET_LOCK on a
 *   dedicated connection; SQLite: one write transaction);
 * - a database that records a version with no file here was migrated by a
 *   newer build: we refuse to run against a schema we do not know.
 *
 * MySQL commits DDL implicitly, so a file that fails halfway leaves its first
 * statements applied and its version unrecorded; the next start runs the whole
 * file again. Migrations are therefore written to be re-runnable
 * (`CREATE TABLE IF NOT EXISTS`, ...). On SQLite all pending files apply in
 * one transaction, all or nothing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.ts';

/** The code of the error migrate throws for a database a newer build migrated: a start-up failure. */
export const NEWER_SCHEMA = 'NEWER_SCHEMA';

export type Engine = 'mysql' | 'sqlite';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export interface AppliedMigration {
  version: number;
  name: string;
}

/** What the runner needs from an engine while it holds the migration lock. */
export interface MigrationSession {
  /** Creates `schema_migrations` when missing. */
  ensureTable(): Promise<void>;
  applied(): Promise<AppliedMigration[]>;
  /** Runs the statements, then records the version. */
  apply(migration: Migration, nowMs: number): Promise<void>;
}

export interface MigrationTarget {
  /** Runs `work` holding the migration lock; releases it whatever happens. */
  exclusive<T>(work: (session: MigrationSession) => Promise<T>): Promise<T>;
}

const FILE_NAME = /^(\d+)_([A-Za-z0-9_]+)\.sql$/;

/** The directory holding one engine's migrations, relative to this module. */
export function migrationsDir(engine: Engine): string {
  return fileURLToPath(new URL(`../../sql/${engine}/`, import.meta.url));
}

/**
 * Splits a migration file into statements. Kept deliberately simple: a
 * statement ends with a `;` that is the last non-blank character of a line,
 * and lines starting with `--` are comments. So a migration must not put a
 * line-ending semicolon inside a string literal, and cannot define routines
 * or triggers with compound bodies; plain DDL and DML is all this project needs.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of sql.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('--')) continue;
    current.push(line);
    if (trimmed.endsWith(';')) {
      const statement = current.join('\n').trim().replace(/;$/, '').trim();
      if (statement !== '') statements.push(statement);
      current = [];
    }
  }
  if (current.length > 0) {
    throw new Error(`statement without a final ';': ${current.join(' ').slice(0, 80)}`);
  }
  return statements;
}

/** Reads every `NNN_name.sql` in `dir`, sorted by version. */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql'));
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (match === null) {
      throw new Error(`${join(dir, file)}: migration files are named NNN_name.sql`);
    }
    const version = Number(match[1]);
    const name = match[2] ?? '';
    try {
      const statements = splitStatements(await readFile(join(dir, file), 'utf8'));
      migrations.push({ version, name, statements });
    } catch (error) {
      throw new Error(`${join(dir, file)}: ${(error as Error).message}`, { cause: error });
    }
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version) {
      throw new Error(`${dir}: two migration files have version ${migrations[i]?.version}`);
    }
  }
  return migrations;
}

/**
 * Applies the pending migrations under the target's lock. Resolves to the
 * versions it applied (empty when the database was up to date).
 */
export async function migrate(
  target: MigrationTarget,
  migrations: readonly Migration[],
  log: Logger,
  now: () => number = Date.now,
): Promise<number[]> {
  return target.exclusive(async (session) => {
    await session.ensureTable();
    const applied = await session.applied();
    const known = new Set(migrations.map((m) => m.version));
    const unknown = applied.filter((a) => !known.has(a.version));
    if (unknown.length > 0) {
      const list = unknown.map((a) => `${String(a.version).padStart(3, '0')}_${a.name}`).join(', ');
      throw Object.assign(
        new Error(
          `the database records migrations this build does not have (${list}): ` +
            'it was migrated by a newer version; deploy that version or restore a matching backup',
        ),
        { code: NEWER_SCHEMA },
      );
    }
    const done = new Set(applied.map((a) => a.version));
    const versions: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await session.apply(migration, now());
      log.info({ version: migration.version, migration: migration.name }, 'migration applied');
      versions.push(migration.version);
    }
    return versions;
  });
}
