// Laravel's `users` table (UserStore).
import { sql, type Selectable } from 'kysely';
import { normaliseEmail } from '../core/emails.js';
import { EmailTakenError } from '../core/errors.js';
import type { NewToken, NewUser, OutgoingMail, UserStore } from '../core/ports.js';
import { enqueueMail } from '../mail/outbox.js';
import type { User, UserWithPassword } from '../core/types.js';
import { insertToken, setPassword } from './sql-rows.js';
import { SqlEmailKeys } from './sql-email-key.js';
import { guard } from './failures.js';
import { isUniqueViolation, type Executor, type SqlDatabase } from './sql-database.js';
import type { UsersTable } from './schema.js';
import { fromSqlTime, toSqlTime } from './time.js';

export class SqlUserStore implements UserStore {
  private readonly emailKeys: SqlEmailKeys;

  constructor(private readonly database: SqlDatabase) {
    this.emailKeys = new SqlEmailKeys(database);
  }

  rateLimitKey(email: string): Promise<string> {
    return this.emailKeys.keyOf(email);
  }

  async findByEmail(email: string): Promise<UserWithPassword | undefined> {
    const row = await guard(this.byEmail(this.database.db, normaliseEmail(email)).selectAll().orderBy('id').limit(1).executeTakeFirst());
    return row && userWithPassword(row);
  }

  async findById(id: number): Promise<UserWithPassword | undefined> {
    const row = await guard(this.database.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst());
    return row && userWithPassword(row);
  }

  async create(user: NewUser, firstToken: NewToken | null, welcome?: (user: User) => OutgoingMail) {
    return this.database.transaction(async (trx) => {
      if (await this.byEmail(trx, user.email).select('id').executeTakeFirst()) throw new EmailTakenError();
      const now = toSqlTime(firstToken?.createdAt ?? Date.now());
      let userId: number;
      try {
        userId = await this.database.insertId(trx, 'users', {
          name: user.name,
          email: user.email,
          password: user.passwordHash,
          email_verified_at: null,
          remember_token: null,
          created_at: now,
          updated_at: now,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
      const tokenId = firstToken ? await insertToken(this.database, trx, userId, firstToken) : null;
      const created: User = { id: userId, name: user.name, email: user.email, createdAt: fromSqlTime(now), emailVerifiedAt: null };
      if (welcome) await enqueueMail(trx, welcome(created));
      return { user: created, tokenId };
    });
  }

  async setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    await guard(setPassword(this.database.db, userId, passwordHash));
  }

  /**
   * Rows whose email matches whatever its case. MySQL collations compare case-insensitively and
   * use the unique index; the others use the lower(email) index. The oldest account wins when
   * two differ only in case.
   */
  private byEmail(executor: Executor, normalised: string) {
    const query = executor.selectFrom('users');
    return this.database.dialect === 'mysql' ? query.where('email', '=', normalised) : query.where(sql`lower(email)`, '=', normalised);
  }
}

function userWithPassword(row: Selectable<UsersTable>): UserWithPassword {
  return { id: Number(row.id), name: row.name, email: row.email, createdAt: fromSqlTime(row.created_at), emailVerifiedAt: fromSqlTime(row.email_verified_at), passwordHash: row.password };
}
