import { Database } from 'bun:sqlite';
import { describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { loadMigrations, migrate, migrationsDir } from '../../src/store/migrate.ts';
import { openStore, type StoreOptions, sqlitePath } from '../../src/store/open.ts';
import { classifySqliteError } from '../../src/store/sqlite/errors.ts';
import { sqliteMigrationTarget } from '../../src/store/sqlite/migration-target.ts';
import { revokedPageSql } from '../../src/store/sqlite/rows.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { RpcError } from '../../src/wire/rpc-error.ts';
import { Status } from '../../src/wire/status.ts';
import { describeStoreContract, newUser } from './contract.ts';

const MYSQL_UNUSED = {
  poolSize: 1,
  queueLimit: 0,
  queueTimeoutMs: 1,
  queryTimeoutMs: 1,
  connectTimeoutMs: 100,
};

function sqliteOptions(dataDir: string): StoreOptions {
  return { mysqlUrl: '', dataDir, mysql: MYSQL_UNUSED };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'usermgr-store-'));
}

async function migrateFile(path: string): Promise<number[]> {
  const db = new Database(path, { strict: true, safeIntegers: true });
  try {
    return await migrate(
      sqliteMigrationTarget(db),
      await loadMigrations(migrationsDir('sqlite')),
      silentLogger,
    );
  } finally {
    db.close();
  }
}

describeStoreContract('sqlite', async () => {
  const dir = tempDir();
  const store = await openStore(sqliteOptions(dir), silentLogger);
  return {
    store,
    migrateAgain: () => migrateFile(sqlitePath(dir)),
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store: engine specifics', () => {
  it('should create the data directory and the file, in WAL mode', async () => {
    const parent = tempDir();
    const dir = join(parent, 'nested', 'data');
    const store = await openStore(sqliteOptions(dir), silentLogger);
    try {
      expect(store).toBeInstanceOf(SqliteStore);
      const { db } = store as SqliteStore;
      expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(await Bun.file(sqlitePath(dir)).exists()).toBe(true);
    } finally {
      await store.close();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('should keep its data across a reopen', async () => {
    const dir = tempDir();
    const user = newUser({ nickname: '再び 🔁' });
    const first = await openStore(sqliteOptions(dir), silentLogger);
    await first.create(user);
    await first.close();
    const second = await openStore(sqliteOptions(dir), silentLogger);
    expect(await second.findById(user.id)).toEqual(user);
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should answer UNAVAILABLE while another process holds the write lock', async () => {
    const dir = tempDir();
    const store = (await openStore(sqliteOptions(dir), silentLogger)) as SqliteStore;
    const other = new Database(sqlitePath(dir));
    other.run('BEGIN IMMEDIATE');
    try {
      store.db.run('PRAGMA busy_timeout = 10'); // keep the test fast
      const error = await store.create(newUser()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RpcError);
      expect((error as RpcError).code).toBe(Status.UNAVAILABLE);
    } finally {
      other.run('ROLLBACK');
      other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should pass other errors through unchanged', () => {
    const error = Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_CHECK' });
    expect(classifySqliteError(error)).toBe(error);
  });

  it("should bound a page of revocations by its range's both ends along the primary key", async () => {
    const dir = tempDir();
    const path = join(dir, 'plan.db');
    await migrateFile(path);
    const db = new Database(path);
    const plan = (bounded: boolean, params: (string | number)[]) =>
      db
        .query<{ detail: string }, (string | number)[]>(
          `EXPLAIN QUERY PLAN ${revokedPageSql(bounded)}`,
        )
        .all(...params)
        .map((row) => row.detail)
        .join('; ');
    expect(plan(true, ['A', 'B', 0, 10])).toContain('PRIMARY KEY (session_id>? AND session_id<?)');
    expect(plan(false, ['A', 0, 10])).toContain('PRIMARY KEY (session_id>?)');
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should widen the nickname (009) keeping every user, column and index', async () => {
    const dir = tempDir();
    const db = new Database(sqlitePath(dir), { strict: true, safeIntegers: true });
    const all = await loadMigrations(migrationsDir('sqlite'));
    const upTo8 = all.filter((m) => m.version <= 8);
    expect(await migrate(sqliteMigrationTarget(db), upTo8, silentLogger)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    const before = newUser({ nickname: 'Ünï 🎉', picture: 'a'.repeat(64), version: 7 });
    db.query(
      'INSERT INTO users (id, username, nickname, password_hash, picture, sessions_valid_after, ' +
        'created_at, updated_at, totp_secret, totp_last_step, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      BigInt(before.id),
      before.username,
      before.nickname,
      before.passwordHash,
      before.picture,
      before.sessionsValidAfterMs,
      before.createdAtMs,
      before.updatedAtMs,
      'JBSWY3DPEHPK3PXP',
      12,
      before.version,
    );
    db.close();
    const store = await openStore(sqliteOptions(dir), silentLogger);
    try {
      expect(await store.findById(before.id)).toEqual({
        ...before,
        totpSecret: 'JBSWY3DPEHPK3PXP',
      });
      expect(await store.findByUsername(before.username.toUpperCase())).toEqual({
        ...before,
        totpSecret: 'JBSWY3DPEHPK3PXP',
      });
      expect(await store.create(newUser({ username: before.username.toUpperCase() }))).toBe(
        'username_taken',
      );
      const wide = newUser({ nickname: '👩🏽‍💻'.repeat(64) });
      expect(await store.create(wide)).toBe('created');
      expect((await store.findById(wide.id))?.nickname).toBe(wide.nickname);
      const { db: after } = store as SqliteStore;
      const indexes = after
        .query(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL ORDER BY name",
        )
        .all();
      expect(indexes).toEqual([{ name: 'users_picture' }, { name: 'users_username_uq' }]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should apply each migration once when two processes start at once', async () => {
    const dir = tempDir();
    const path = sqlitePath(dir);
    const root = join(import.meta.dir, '../..');
    const script = `
      import { Database } from 'bun:sqlite';
      import { silentLogger } from '${root}/src/log.ts';
      import { loadMigrations, migrate, migrationsDir } from '${root}/src/store/migrate.ts';
      import { openSqliteDatabase } from '${root}/src/store/sqlite/database.ts';
      import { sqliteMigrationTarget } from '${root}/src/store/sqlite/migration-target.ts';
      const db = openSqliteDatabase(${JSON.stringify(path)});
      const applied = await migrate(sqliteMigrationTarget(db), await loadMigrations(migrationsDir('sqlite')), silentLogger);
      console.log(JSON.stringify(applied));
    `;
    const children = [0, 1].map(() =>
      Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' }),
    );
    const outputs = await Promise.all(children.map((c) => new Response(c.stdout).text()));
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    const applied = outputs.flatMap((o) => JSON.parse(o) as number[]).sort();
    const versions = (await loadMigrations(migrationsDir('sqlite'))).map((m) => m.version);
    expect(applied).toEqual(versions);
    const db = new Database(path);
    expect(db.query('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({
      n: versions.length,
    });
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
