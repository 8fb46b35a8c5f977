// The rate-limit key of an email (UserStore.rateLimitKey): equal for every spelling the database
// resolves to the same account, and computed the same way whether or not the account exists (so
// neither its answers nor its timing say which). PostgreSQL and SQLite compare lower(email) with
// the normalised email, so that is the key. MySQL and MariaDB compare with the column's collation,
// usually accent- and case-insensitive (`ánn@…` finds `ann@…`, and `ß` may equal `ss`): the key is
// the collation's own sort weight of the email, which is equal exactly when the collation says the
// two spellings are equal.
import { sql } from 'kysely';
import { normaliseEmail } from '../core/emails.js';
import { guard } from './failures.js';
import type { SqlDatabase } from './sql-database.js';

/** A collation or character set name read from information_schema, before it is put in SQL. */
const SQL_NAME = /^[A-Za-z0-9_]+$/;

export class SqlEmailKeys {
  private emailCollation: Promise<{ charset: string; collation: string }> | undefined;

  constructor(private readonly database: SqlDatabase) {}

  async keyOf(email: string): Promise<string> {
    const normalised = normaliseEmail(email);
    if (this.database.dialect !== 'mysql') return normalised;
    const { charset, collation } = await this.collation();
    const row = await guard(
      sql<{ weight: string }>`select hex(weight_string(convert(${normalised} using ${sql.raw(charset)}) collate ${sql.raw(collation)})) as weight`.execute(this.database.db),
    );
    return `weight:${collation}:${row.rows[0]!.weight}`;
  }

  /** users.email's character set and collation, read once (again after a failure). */
  private collation(): Promise<{ charset: string; collation: string }> {
    this.emailCollation ??= this.readCollation().catch((error: unknown) => {
      this.emailCollation = undefined;
      throw error;
    });
    return this.emailCollation;
  }

  private async readCollation(): Promise<{ charset: string; collation: string }> {
    const { rows } = await guard(
      sql<{ charset: string; collation: string }>`select character_set_name as charset, collation_name as collation from information_schema.columns
        where table_schema = database() and table_name = 'users' and column_name = 'email'`.execute(this.database.db),
    );
    const found = rows[0];
    if (!found || !SQL_NAME.test(found.charset) || !SQL_NAME.test(found.collation)) throw new Error('users.email has no readable collation');
    return found;
  }
}
