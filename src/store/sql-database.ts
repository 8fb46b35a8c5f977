// One database connection shared by the SQL stores (./sql-*.ts): transactions, the statement
// count, health, and the mapping of connectivity failures to 503 (UnavailableError).
import { sql, type Kysely, type Transaction } from 'kysely';
import { connect, type ConnectOptions, type Connection, type DialectName } from './connect.js';
import { guard } from './failures.js';
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
