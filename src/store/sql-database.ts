// One database connection shared by the SQL stores (./sql-*.ts): transactions, the statement
// count, health, and the mapping of connectivity failures to 503 (UnavailableError).
import { sql, type Kysely, type Transaction } from 'kysely';
import { EmailTakenError, UnavailableError } from '../core/errors.js';
import { connect, type ConnectOptions, type Connection, type DialectName } from './connect.js';
import type { Database } from './schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

/** Long IN lists are split so that no driver meets its parameter limit. */
export const IN_LIST_CHUNK = 500;

export class SqlDatabase {
  readonly dialect: DialectName;
  readonly db: Kysely<Database>;
  private readonly connection: Connection;

  constructor(url: string, options: ConnectOptions = {}) {
    this.connection = connect(url, options);
    this.db = this.connection.db;
    this.dialect = this.connection.dialect;
  }

  /** Statements executed so far (tests and the benchmark read it). */
  queryCount(): number {
    return this.connection.queryCount();
  }

  async ping(): Promise<void> {
    await guard(sql`select 1`.execute(this.db));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return guard(this.db.transaction().execute(work));
  }

  /** Inserts one row and returns its id, in each dialect's way. */
  async insertId<T extends 'users' | 'personal_access_tokens' | 'latchkey_sessions'>(trx: Executor, table: T, values: any): Promise<number> {
    if (this.dialect === 'mysql') {
      const result = await trx.insertInto(table).values(values).executeTakeFirstOrThrow();
      return Number(result.insertId);
    }
    const row = await trx.insertInto(table).values(values).returning('id' as any).executeTakeFirstOrThrow();
    return Number((row as { id: number }).id);
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: number };
  return e?.code === '23505' || e?.code === 'ER_DUP_ENTRY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT', // mysql2: the query timeout
  'ER_CON_COUNT_ERROR',
  'SQLITE_BUSY',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_READONLY',
]);

/** True for errors that mean "the database could not do it now", as opposed to a bug. */
export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; fatal?: boolean };
  if (!e) return false;
  if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || /^(08|57P|53)/.test(e.code))) return true;
  if (e.fatal === true) return true;
  return typeof e.message === 'string' && /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Query read timeout|connect ETIMEDOUT|Pool is closed|Can't add new command when connection is in closed state/i.test(e.message);
}

/** Maps a driver's connectivity failure to UnavailableError; lets everything else through. */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof EmailTakenError || error instanceof UnavailableError) throw error;
    if (isUnavailable(error)) throw new UnavailableError(error);
    throw error;
  }
}
