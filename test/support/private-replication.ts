/**
 * A MariaDB primary and one replica of it, both the test's own
 * (private-mariadb.ts: fresh data directories, free ports, never the shared
 * server): the primary writes a binary log (server_id 1, so GTIDs 0-1-n), the
 * replica (server_id 2, read_only) follows it with MASTER_USE_GTID=slave_pos
 * from the start of that log, which also brings it the database. The test may
 * stop the replica's SQL thread to make it lag, kill the replica and start it
 * again: it resumes replicating by itself. Every wait is bounded.
 */
import type { RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { type PrivateMariadb, startPrivateMariadb } from './private-mariadb.ts';

export interface PrivateReplication {
  primary: PrivateMariadb;
  replica: PrivateMariadb;
  /** STOP SLAVE SQL_THREAD: the replica still receives the primary's log, and applies nothing. */
  stopApplying(): Promise<void>;
  startApplying(): Promise<void>;
  /** Resolves once the replica has applied everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** A query straight on the replica, or the primary, to see what each holds. */
  onReplica(sql: string, params?: unknown[]): Promise<RowDataPacket[]>;
  onPrimary(sql: string, params?: unknown[]): Promise<RowDataPacket[]>;
  stop(): Promise<void>;
}

const DATABASE = 'usermgr';

async function query(url: string, sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 2000 });
  try {
    const [rows] = await connection.query(sql, params);
    return rows as RowDataPacket[];
  } finally {
    await connection.end();
  }
}

export async function startPrivateReplication(): Promise<PrivateReplication> {
  const started = await Promise.allSettled([
    startPrivateMariadb(DATABASE, {
      serverOptions: ['--server-id=1', '--log-bin=primary-bin', '--binlog-format=ROW'],
    }),
    startPrivateMariadb(DATABASE, {
      serverOptions: ['--server-id=2', '--read-only=ON', '--relay-log=replica-relay-bin'],
      createDatabase: false,
    }),
  ]);
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(running.map((server) => server.stop()));
    throw failed.reason;
  }
  const [primary, replica] = running as [PrivateMariadb, PrivateMariadb];
  const replicaRoot = `mysql://root@127.0.0.1:${replica.port}/`;
  const primaryRoot = `mysql://root@127.0.0.1:${primary.port}/`;

  const replication: PrivateReplication = {
    primary,
    replica,
    async stopApplying() {
      await query(replicaRoot, 'STOP SLAVE SQL_THREAD');
    },
    async startApplying() {
      await query(replicaRoot, 'START SLAVE SQL_THREAD');
    },
    async caughtUp(timeoutMs = 20_000) {
      const [row] = await query(primaryRoot, 'SELECT @@gtid_binlog_pos AS pos');
      const [waited] = await query(replicaRoot, 'SELECT MASTER_GTID_WAIT(?, ?) AS result', [
        String(row?.pos),
        timeoutMs / 1000,
      ]);
      if (Number(waited?.result) !== 0) {
        const [status] = await query(replicaRoot, 'SHOW SLAVE STATUS');
        throw new Error(
          `the replica did not reach ${row?.pos} within ${timeoutMs} ms: ` +
            `IO ${status?.Slave_IO_Running}, SQL ${status?.Slave_SQL_Running}, ` +
            `${status?.Last_IO_Error || ''} ${status?.Last_SQL_Error || ''}`,
        );
      }
    },
    onReplica: (sql, params) => query(replica.url, sql, params),
    onPrimary: (sql, params) => query(primary.url, sql, params),
    async stop() {
      await Promise.all([replica.stop(), primary.stop()]);
    },
  };

  try {
    await query(
      replicaRoot,
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, ` +
        "MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, " +
        'MASTER_CONNECT_RETRY=1',
    );
    await query(replicaRoot, 'START SLAVE');
    await replication.caughtUp();
  } catch (err) {
    await replication.stop();
    throw err;
  }
  return replication;
}
