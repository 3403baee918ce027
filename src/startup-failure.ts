/**
 * Start-up failures that someone setting up usermgr runs into, turned into one
 * line that says what to do: a port in use (and the variable that sets it), a
 * host to listen on that is not this machine's, a MySQL database that does not
 * exist (and the statement that creates it), MySQL out of reach or refusing the
 * user, a database migrated by a newer build, a DATA_DIR that cannot be written, is not a directory, or is open to
 * other users and cannot be closed. Anything else is not recognised (null) and
 * keeps its stack trace.
 */
import { resolve } from 'node:path';
import { DATA_DIR_MODE } from './store/data-dir.ts';
import { NEWER_SCHEMA } from './store/migrate.ts';

/** A port this process listens on, and the variable that sets it. */
export interface PortSetting {
  variable: string;
  host: string;
  port: number;
}

export interface StartupContext {
  ports: readonly PortSetting[];
  /** MYSQL_URL; '' when the store is SQLite. */
  mysqlUrl?: string;
  /** DATA_DIR, when this process writes there. */
  dataDir?: string;
}

interface ErrorFields {
  code?: unknown;
  syscall?: unknown;
  address?: unknown;
  port?: unknown;
  path?: unknown;
  message?: unknown;
  sqlMessage?: unknown;
  cause?: unknown;
}

/** The error and its causes, outermost first (RpcError keeps the driver error as cause). */
function chain(error: unknown): ErrorFields[] {
  const found: ErrorFields[] = [];
  let current = error;
  while (current !== null && typeof current === 'object' && found.length < 8) {
    found.push(current as ErrorFields);
    current = (current as ErrorFields).cause;
  }
  return found;
}

function portInUse(error: ErrorFields, ports: readonly PortSetting[]): string {
  const message = String(error.message ?? '');
  // Bun.listen sets `port`; Bun.serve only names it in the message ("Is port 8080 in use?").
  const port =
    typeof error.port === 'number' ? error.port : Number(/port (\d+)/.exec(message)?.[1]);
  const setting = ports.find((p) => p.port === port) ?? (ports.length === 1 ? ports[0] : undefined);
  if (setting === undefined) {
    const names = ports.map((p) => `${p.variable}=${p.port}`).join(', ');
    return `a port this server needs is in use (${names}): stop what listens there, or set another port`;
  }
  return (
    `port ${setting.port} on ${setting.host} is in use: stop what listens there, ` +
    `or set ${setting.variable} to a free port`
  );
}

/**
 * A listen on an address that is not this machine's (EADDRNOTAVAIL) or on a
 * host that is no address at all (Bun.listen: no code, "Failed to listen at
 * <host>"; Bun.serve: EINVAL), or null. Every port variable is HTTP_* or
 * TCP_*, and its host is HTTP_HOST or TCP_HOST.
 */
function hostUnusable(
  error: ErrorFields,
  code: string,
  ports: readonly PortSetting[],
): string | null {
  const message = String(error.message ?? '');
  const listening = error.syscall === 'listen' || message.startsWith('Failed to listen at ');
  const notHere = code === 'EADDRNOTAVAIL';
  if (!listening || !(notHere || code === '' || code === 'EINVAL')) return null;
  const setting =
    ports.find((p) => p.host === error.address) ?? (ports.length === 1 ? ports[0] : undefined);
  if (setting === undefined) return null;
  const variable = `${setting.variable.split('_')[0]}_HOST`;
  const why = notHere ? 'not an address of this machine' : 'not an IP address of this machine';
  return `cannot listen on ${setting.host} (${why}): set ${variable} to one, e.g. 127.0.0.1, or 0.0.0.0 for every address`;
}

/** The path is DATA_DIR or inside it. */
function inside(path: string, dataDir: string): boolean {
  const dir = resolve(dataDir);
  const at = resolve(path);
  return at === dir || at.startsWith(`${dir}/`);
}

function mysqlTarget(url: string): { host: string; database: string } {
  try {
    const parsed = new URL(url);
    return {
      host: `${parsed.hostname}:${parsed.port || '3306'}`,
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
    };
  } catch {
    return { host: '(MYSQL_URL)', database: '' };
  }
}

/** A statement the MySQL user may not run (the migrations' DDL, for a user that may only read and write rows). */
const STATEMENT_DENIED = new Set([
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

/** One line that says what to do about `error`, or null when it is not a known start-up failure. */
export function explainStartupFailure(error: unknown, context: StartupContext): string | null {
  for (const link of chain(error)) {
    const code = typeof link.code === 'string' ? link.code : '';
    if (code === 'EADDRINUSE') return portInUse(link, context.ports);
    // Its message is the line already (store/data-dir.ts, store/migrate.ts).
    if (code === DATA_DIR_MODE || code === NEWER_SCHEMA) return String(link.message);
    const host = hostUnusable(link, code, context.ports);
    if (host !== null) return host;
    if (code === 'EACCES' && typeof link.path !== 'string') {
      const names = context.ports.map((p) => p.variable).join(' or ');
      return `not allowed to listen on this port (below 1024 needs privileges): set ${names} to a port above 1023`;
    }
    if (context.mysqlUrl) {
      const { host, database } = mysqlTarget(context.mysqlUrl);
      if (code === 'ER_BAD_DB_ERROR') {
        return (
          `MySQL database "${database}" does not exist on ${host}: create it with ` +
          `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4; (the tables are created at start-up)`
        );
      }
      if (STATEMENT_DENIED.has(code)) {
        return (
          `MySQL on ${host} refused a statement to the user in MYSQL_URL ` +
          `(${String(link.sqlMessage ?? link.message)}): the migrations at start-up need CREATE, ` +
          `ALTER, INDEX and DROP on \`${database}\` (GRANT ALL ON \`${database}\`.* TO that ` +
          'user), or start once with a user that has them; serving needs SELECT, INSERT, ' +
          'UPDATE and DELETE'
        );
      }
      if (code.startsWith('ER_ACCESS_DENIED') || code === 'ER_DBACCESS_DENIED_ERROR') {
        return `MySQL on ${host} refused the user in MYSQL_URL (${String(link.sqlMessage ?? link.message)}): fix the user or password in MYSQL_URL, or GRANT it access`;
      }
      if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code)) {
        return `cannot reach MySQL at ${host} (${code}): start it, or fix the host or port in MYSQL_URL`;
      }
    }
    if (
      context.dataDir !== undefined &&
      ['EACCES', 'EROFS', 'EPERM'].includes(code) &&
      typeof link.path === 'string'
    ) {
      return `cannot write ${link.path} (${code}): set DATA_DIR (now ${context.dataDir}) to a directory this user can write`;
    }
    if (
      context.dataDir !== undefined &&
      ['EEXIST', 'ENOTDIR', 'ENOENT'].includes(code) &&
      typeof link.path === 'string' &&
      inside(link.path, context.dataDir)
    ) {
      return `cannot make the directory ${link.path} (${code}: a file is in the way, or a place where none can be made): set DATA_DIR (now ${context.dataDir}) to a directory`;
    }
  }
  return null;
}
