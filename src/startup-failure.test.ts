import { describe, expect, it } from 'bun:test';
import { explainStartupFailure } from './startup-failure.ts';
import { DATA_DIR_MODE } from './store/data-dir.ts';
import { NEWER_SCHEMA } from './store/migrate.ts';

const tcpPorts = [
  { variable: 'TCP_PORT', host: '127.0.0.1', port: 9090 },
  { variable: 'TCP_METRICS_PORT', host: '127.0.0.1', port: 9464 },
];

function error(fields: Record<string, unknown>, message = 'failed'): Error {
  return Object.assign(new Error(message), fields);
}

describe('unit: explainStartupFailure', () => {
  it('should name the variable of the port in use, from Bun.listen (port field) or Bun.serve (message)', () => {
    expect(
      explainStartupFailure(error({ code: 'EADDRINUSE', port: 9090 }), { ports: tcpPorts }),
    ).toBe(
      'port 9090 on 127.0.0.1 is in use: stop what listens there, or set TCP_PORT to a free port',
    );
    expect(
      explainStartupFailure(
        error({ code: 'EADDRINUSE' }, 'Failed to start server. Is port 9464 in use?'),
        { ports: tcpPorts },
      ),
    ).toContain('set TCP_METRICS_PORT to a free port');
  });

  it('should name the host variable when a host is not this machine, from Bun.listen or Bun.serve', () => {
    const fix = 'e.g. 127.0.0.1, or 0.0.0.0 for every address';
    const listen = error(
      { code: 'EADDRNOTAVAIL', syscall: 'listen', address: '10.9.9.9', port: 9090 },
      'Failed to listen at 10.9.9.9',
    );
    const ports = tcpPorts.map((p) => ({ ...p, host: '10.9.9.9' }));
    expect(explainStartupFailure(listen, { ports })).toBe(
      `cannot listen on 10.9.9.9 (not an address of this machine): set TCP_HOST to one, ${fix}`,
    );
    const serve = error({ code: 'EINVAL', syscall: 'listen' }, 'EINVAL: invalid argument, listen');
    const http = [{ variable: 'HTTP_METRICS_PORT', host: 'no.such.host', port: 9465 }];
    expect(explainStartupFailure(serve, { ports: http })).toBe(
      `cannot listen on no.such.host (not an IP address of this machine): set HTTP_HOST to one, ${fix}`,
    );
    // Not from a listen: not ours to explain.
    expect(explainStartupFailure(error({ code: 'EINVAL', syscall: 'open' }), { ports })).toBeNull();
  });

  it('should point at DATA_DIR when it is a file or inside one, and only for paths in it', () => {
    const context = { ports: tcpPorts, dataDir: './data' };
    expect(explainStartupFailure(error({ code: 'EEXIST', path: './data' }), context)).toBe(
      'cannot make the directory ./data (EEXIST: a file is in the way, or a place where none can be made): set DATA_DIR (now ./data) to a directory',
    );
    expect(
      explainStartupFailure(error({ code: 'ENOENT', path: '/usr/share/dict/words' }), context),
    ).toBeNull();
  });

  it('should print the CREATE DATABASE statement for a missing database, found through RpcError causes', () => {
    const driver = error({ code: 'ER_BAD_DB_ERROR', errno: 1049 }, "Unknown database 'shop'");
    const wrapped = new Error('database unavailable', { cause: driver });
    expect(
      explainStartupFailure(wrapped, {
        ports: tcpPorts,
        mysqlUrl: 'mysql://app:secret@db.example:3307/shop',
      }),
    ).toBe(
      'MySQL database "shop" does not exist on db.example:3307: create it with ' +
        'CREATE DATABASE `shop` CHARACTER SET utf8mb4; (the tables are created at start-up)',
    );
  });

  it('should name the privileges when MySQL refuses a statement to the user', () => {
    const driver = error(
      { code: 'ER_TABLEACCESS_DENIED_ERROR', errno: 1142 },
      "CREATE command denied to user 'app'@'10.0.0.5' for table `shop`.`schema_migrations`",
    );
    Object.assign(driver, { sqlMessage: driver.message });
    const line = explainStartupFailure(new Error('database unavailable', { cause: driver }), {
      ports: tcpPorts,
      mysqlUrl: 'mysql://app:secret@db.example:3307/shop',
    });
    expect(line).toBe(
      "MySQL on db.example:3307 refused a statement to the user in MYSQL_URL (CREATE command denied to user 'app'@'10.0.0.5' for table `shop`.`schema_migrations`): " +
        'the migrations at start-up need CREATE, ALTER, INDEX and DROP on `shop` (GRANT ALL ON `shop`.* TO that user), ' +
        'or start once with a user that has them; serving needs SELECT, INSERT, UPDATE and DELETE',
    );
  });

  it('should say MySQL is out of reach, never showing the password of MYSQL_URL', () => {
    const line = explainStartupFailure(error({ code: 'ECONNREFUSED' }), {
      ports: tcpPorts,
      mysqlUrl: 'mysql://app:secret@127.0.0.1:3399/shop',
    });
    expect(line).toBe(
      'cannot reach MySQL at 127.0.0.1:3399 (ECONNREFUSED): start it, or fix the host or port in MYSQL_URL',
    );
    expect(line).not.toContain('secret');
  });

  it('should point at DATA_DIR when a file cannot be written', () => {
    expect(
      explainStartupFailure(error({ code: 'EACCES', path: '/var/lib/usermgr/usermgr.sqlite' }), {
        ports: tcpPorts,
        dataDir: '/var/lib/usermgr',
      }),
    ).toBe(
      'cannot write /var/lib/usermgr/usermgr.sqlite (EACCES): set DATA_DIR (now /var/lib/usermgr) to a directory this user can write',
    );
  });

  it("should give DATA_DIR's own line when a mode open to other users cannot be tightened", () => {
    const line =
      'DATA_DIR: /srv/data is readable by other users (mode 0755) and its mode cannot be changed (EROFS): make it 0700 before the file system is made read-only, or set DATA_DIR to a writable directory';
    const thrown = Object.assign(new Error(line), { code: DATA_DIR_MODE });
    expect(explainStartupFailure(thrown, { ports: tcpPorts, dataDir: '/srv/data' })).toBe(line);
  });

  it('should give the line of a database a newer build migrated', () => {
    const line =
      'the database records migrations this build does not have (008_x): it was migrated by a newer version; deploy that version or restore a matching backup';
    const thrown = Object.assign(new Error(line), { code: NEWER_SCHEMA });
    expect(explainStartupFailure(thrown, { ports: tcpPorts, mysqlUrl: 'mysql://h/db' })).toBe(line);
  });

  it('should leave anything else alone (null), so that it keeps its stack trace', () => {
    expect(explainStartupFailure(new TypeError('x is undefined'), { ports: tcpPorts })).toBeNull();
    expect(
      explainStartupFailure(error({ code: 'ECONNREFUSED' }), { ports: tcpPorts, mysqlUrl: '' }),
    ).toBeNull();
  });
});
