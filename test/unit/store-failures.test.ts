// The rules of src/store/failures.ts on the error shapes the drivers produce: a failed connection
// or a server going away is UnavailableError (503), a statement the server refused (a duplicate
// key, a syntax error) and a programming error pass through unchanged. The real servers refusing
// in each of these ways are in test/reliability/database-refusals.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { UnavailableError } from '../../src/core/errors.js';
import { acquisitionFailure, guard, isUnavailable, mysqlStatementFailure, pgStatementFailure } from '../../src/store/failures.js';

function serverError(code: string, severity = 'ERROR'): pg.DatabaseError {
  const error = new pg.DatabaseError('from the server', 0, 'error');
  error.code = code;
  error.severity = severity;
  return error;
}

function systemError(code: string, syscall: string): Error {
  // Node's socket errors are instances of an internal subclass of Error that names the syscall.
  class SystemError extends Error {}
  return Object.assign(new SystemError(`${syscall} ${code}`), { code, syscall });
}

const unavailable = (mapped: unknown, original: unknown) => mapped instanceof UnavailableError && mapped.causeError === original;

describe('database failures: where they happened decides 503 or not', () => {
  test('any failure to acquire a connection is unavailability, whatever the server said', () => {
    for (const error of [serverError('55000', 'FATAL'), serverError('28P01', 'FATAL'), new Error('timeout exceeded when trying to connect'), { code: 'ER_ACCESS_DENIED_ERROR' }]) {
      assert.ok(unavailable(acquisitionFailure(error), error), JSON.stringify(error));
    }
    const already = new UnavailableError();
    assert.equal(acquisitionFailure(already), already);
  });

  test('pg: a lost connection, a timeout and a server going away are unavailable; refused statements and bad arguments are not', () => {
    const lost = [
      new Error('Connection terminated unexpectedly'),
      new Error('Query read timeout'),
      systemError('ECONNRESET', 'write'),
      serverError('57P01', 'FATAL'), // terminating connection due to administrator command
      serverError('25P03', 'FATAL'), // idle-in-transaction timeout: any FATAL ends the session
      serverError('53300'), // too many connections
      serverError('08006'), // connection failure
      serverError('42P01'), // a table of latchkey's is gone
    ];
    for (const error of lost) assert.ok(unavailable(pgStatementFailure(error), error), `${(error as { code?: string }).code ?? (error as Error).message}`);
    for (const error of [serverError('23505'), serverError('42601'), serverError('22P02'), new TypeError('Client was passed a null or undefined query')]) {
      assert.equal(pgStatementFailure(error), error, `${(error as { code?: string }).code ?? (error as Error).message}`);
    }
  });

  test('mysql2: fatal errors, its query timeout and a server going away are unavailable; refused statements are not', () => {
    const lost = [
      { code: 'PROTOCOL_CONNECTION_LOST', fatal: true },
      { code: 'ECONNRESET', fatal: true },
      { code: 'PROTOCOL_SEQUENCE_TIMEOUT' },
      { code: 'ER_CONNECTION_KILLED', errno: 1927 },
      { code: 'ER_NO_SUCH_TABLE', errno: 1146 },
    ];
    for (const error of lost) assert.ok(unavailable(mysqlStatementFailure(error), error), error.code);
    for (const error of [{ code: 'ER_DUP_ENTRY', errno: 1062 }, { code: 'ER_PARSE_ERROR', errno: 1064 }, new TypeError('bad')]) {
      assert.equal(mysqlStatementFailure(error), error);
    }
  });

  test('guard: SQLite codes for a locked or unreadable file become UnavailableError; other errors pass unchanged', async () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    await assert.rejects(guard(Promise.reject(busy)), (error: unknown) => unavailable(error, busy));
    const unique = Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    await assert.rejects(guard(Promise.reject(unique)), (error: unknown) => error === unique);
    assert.equal(isUnavailable(new Error('Connection terminated')), false, 'outside a connection, a message decides nothing');
    assert.equal(await guard(Promise.resolve(7)), 7);
  });
});
