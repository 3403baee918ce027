import { describe, expect, it } from 'bun:test';
import { explainStartupFailure } from './startup-failure.ts';

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

  it('should say MySQL is out of reach, never showing the password of MYSQL_URL', () => {
    const line = explainStartupFailure(error({ code: 'ECONNREFUSED' }), {
      ports: tcpPorts,
      mysqlUrl: 'mysql://app:secret@127.0.0.1:3399/shop',
    });
    expect(line).toBe(
      'cannot reach MySQL at 127.0.0.1:3399 (ECONNREFUSED): start it, or fix the host in MYSQL_URL',
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

  it('should leave anything else alone (null), so that it keeps its stack trace', () => {
    expect(explainStartupFailure(new TypeError('x is undefined'), { ports: tcpPorts })).toBeNull();
    expect(
      explainStartupFailure(error({ code: 'ECONNREFUSED' }), { ports: tcpPorts, mysqlUrl: '' }),
    ).toBeNull();
  });
});
