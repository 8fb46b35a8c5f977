// SQL for account recovery and email verification, on Laravel's tables: password_reset_tokens
// (one row per email, the token hashed) and users.email_verified_at. Each write that causes a
// mail records it in the outbox in the same transaction (src/mail/outbox.ts).
import { sql, type Kysely } from 'kysely';
import type { ResetLink } from '../core/ports.js';
import { enqueueMail, type QueuedMail } from '../mail/outbox.js';
import type { Database } from './schema.js';
import { fromSqlTime, toSqlTime } from './time.js';

export interface ResetRow extends ResetLink {
  createdAt: number | null;
}

export class RecoveryStore {
  constructor(private readonly db: Kysely<Database>) {}

  async findResetRow(email: string): Promise<ResetRow | undefined> {
    const row = await this.db.selectFrom('password_reset_tokens').selectAll().where('email', '=', email).executeTakeFirst();
    return row && { email: row.email, tokenHash: row.token, createdAt: fromSqlTime(row.created_at) };
  }

  /** Replaces the address's reset row, as Laravel's broker does, and records its mail. */
  async replaceResetRow(email: string, tokenHash: string, now: number, mail: QueuedMail): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('password_reset_tokens').where('email', '=', email).execute();
      await trx.insertInto('password_reset_tokens').values({ email, token: tokenHash, created_at: toSqlTime(now) }).execute();
      await enqueueMail(trx, mail, now);
    });
  }

  /** Sets email_verified_at unless it is set already; returns the value the row now holds. */
  async markEmailVerified(userId: number, now: number): Promise<number | null> {
    const at = toSqlTime(now);
    await this.db.updateTable('users').set({ email_verified_at: at, updated_at: at }).where('id', '=', userId).where('email_verified_at', 'is', null).execute();
    return this.emailVerifiedAt(userId);
  }

  async emailVerifiedAt(userId: number): Promise<number | null> {
    const row = await this.db.selectFrom('users').select('email_verified_at').where('id', '=', userId).executeTakeFirst();
    return fromSqlTime(row?.email_verified_at);
  }

  async enqueue(mail: QueuedMail): Promise<void> {
    await enqueueMail(this.db, mail);
  }

  /** Mails still waiting (tests, and the operations docs' query). */
  async pendingMails(): Promise<number> {
    const row = await this.db.selectFrom('latchkey_mail_outbox').select(sql<number>`count(*)`.as('n')).where('failed_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
