// Which database failures mean "not now" (503 `unavailable`) rather than a bug (500), decided by
// where they happened rather than by their messages. connect.ts passes every failure to acquire
// a connection through `acquisitionFailure`, so any failure to open or acquire one (refused, a wrong password, a
// database that is gone, too many clients, a restart, a timeout) is unavailability, and passes
// each failed statement through `pgStatementFailure` / `mysqlStatementFailure`, which tell a
// connection that failed under the statement from a statement the server refused (a duplicate
// key stays a duplicate key, a programming error stays a 500).
import pg from 'pg';
import { EmailTakenError, UnavailableError } from '../core/errors.js';

/** Opening or acquiring a connection failed: whatever the reason, the database is unavailable. */
export function acquisitionFailure(error: unknown): UnavailableError {
  return error instanceof UnavailableError ? error : new UnavailableError(error);
}

/**
 * pg rejects a statement with the server's DatabaseError, with a TypeError for an argument it
 * cannot send, or, when the connection failed under it, with its socket's system error (which
 * names a `syscall`) or a plain Error of its own (terminated, not queryable, no answer within
 * `query_timeout`). Its plain Errors for misuse (values not an array, a circular value) cannot
 * come from Kysely's compiled statements of strings and numbers.
 */
export function pgStatementFailure(error: unknown): unknown {
  const failed =
    error instanceof pg.DatabaseError
      ? pgServerUnavailable(error)
      : Object.getPrototypeOf(error) === Error.prototype || typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
  return failed ? new UnavailableError(error) : error;
}

/**
 * mysql2 marks `fatal` every error that ends the connection (lost, reset, refused at the
 * handshake); its query timeout carries a code of its own and leaves the connection open.
 */
export function mysqlStatementFailure(error: unknown): unknown {
  const e = error as { fatal?: boolean; code?: string; errno?: number } | null;
  const failed = e?.fatal === true || e?.code === 'PROTOCOL_SEQUENCE_TIMEOUT' || (e?.errno !== undefined && MYSQL_UNAVAILABLE_ERRNOS.has(e.errno));
  return failed ? new UnavailableError(error) : error;
}

/**
 * Server answers that end the session or speak of the server rather than of the statement:
 * SQLSTATE classes 08 (connection exception), 53 (insufficient resources: too many connections,
 * disk full, out of memory) and 57P (shutdown, crash, starting up, database dropped), any FATAL
 * (the server ended the session, e.g. an idle-in-transaction timeout), and 42P01: latchkey's
 * tables exist from migration on, so a missing one means its database was replaced under it.
 */
function pgServerUnavailable(error: pg.DatabaseError): boolean {
  const code = error.code ?? '';
  return /^(08|53|57P)/.test(code) || code === '42P01' || error.severity === 'FATAL' || error.severity === 'PANIC';
}

/**
 * The same for MySQL and MariaDB on an open connection: ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED,
 * and a database or table that is gone (a dropped database leaves its connections open, and
 * their statements then find no tables).
 */
const MYSQL_UNAVAILABLE_ERRNOS = new Set([
  1053, // ER_SERVER_SHUTDOWN
  1927, // ER_CONNECTION_KILLED
  1049, // ER_BAD_DB_ERROR
  1146, // ER_NO_SUCH_TABLE
]);

/** SQLite opens no connection: these codes say its file is locked, unreadable, read-only or full. */
const SQLITE_UNAVAILABLE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_READONLY']);

/** True for errors that mean "the database could not do it now", as opposed to a bug. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof UnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SQLITE_UNAVAILABLE_CODES.has(code);
}

/** Maps a database's unavailability to UnavailableError; lets everything else through. */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof EmailTakenError || error instanceof UnavailableError || !isUnavailable(error)) throw error;
    throw new UnavailableError(error);
  }
}
