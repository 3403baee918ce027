/**
 * An embedded SQLite store in a fresh temporary DATA_DIR, migrated, for the
 * services' unit tests; dispose() closes it and removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { openStore } from '../../src/store/open.ts';
import type { UserStore } from '../../src/store/port.ts';

export async function temporarySqliteStore(): Promise<{
  store: UserStore;
  dispose(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-sqlite-'));
  const store = await openStore(
    {
      mysqlUrl: '',
      dataDir: dir,
      // Not used by SQLite; the shape wants them.
      mysql: {
        poolSize: 1,
        queueLimit: 1,
        queueTimeoutMs: 1,
        queryTimeoutMs: 1,
        connectTimeoutMs: 100,
      },
    },
    silentLogger,
  );
  return {
    store,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
