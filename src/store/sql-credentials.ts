// Sanctum's `personal_access_tokens` and latchkey's `latchkey_sessions` (CredentialStore). Every
// write that issues or removes credentials is one transaction and returns the hashes it removed,
// so that the credentials module can make the caches forget exactly those.
import { constantTimeEqual } from '../core/token-format.js';
import type { Credential, CredentialRows, CredentialStore, IssueOptions, NewSession, NewToken, PruneCutoffs, ResetLink } from '../core/ports.js';
import type { Revoked, SessionRecord, TokenRecord, User } from '../core/types.js';
import { guard } from './failures.js';
import { PrecompiledQuery } from './precompiled.js';
import { IN_LIST_CHUNK, type Executor, type SqlDatabase } from './sql-database.js';
import { insertToken, setPassword } from './sql-rows.js';
import { ResetLinkSpentError } from '../core/errors.js';
import { USER_MODEL } from './schema.js';
import { fromSqlTime, toSqlTime } from './time.js';

type CredentialTable = 'personal_access_tokens' | 'latchkey_sessions';

export class SqlCredentialStore implements CredentialStore {
  constructor(private readonly database: SqlDatabase) {}

  // The two lookups of a cache miss, compiled once (./precompiled.ts).
  private readonly tokenById = new PrecompiledQuery((id: number) => this.tokenQuery().where('t.id', '=', id));
  private readonly tokenByHash = new PrecompiledQuery((hash: string) => this.tokenQuery().where('t.token', '=', hash));
  private readonly sessionByHash = new PrecompiledQuery((hash: string) =>
    this.database.db
      .selectFrom('latchkey_sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select([
        's.id',
        's.user_id',
        's.secret_hash',
        's.ip',
        's.user_agent',
        's.created_at',
        's.last_active_at',
        'u.name as user_name',
        'u.email as user_email',
        'u.created_at as user_created_at',
        'u.email_verified_at as user_email_verified_at',
      ])
      .where('s.secret_hash', '=', hash),
  );

  async findToken(id: number | null, hash: string): Promise<Credential | undefined> {
    const { db } = this.database;
    const row = await guard(id === null ? this.tokenByHash.first(db, hash) : this.tokenById.first(db, id));
    if (!row || !constantTimeEqual(row.token, hash)) return undefined;
    return { token: tokenRecord({ ...row, tokenable_id: row.user_id }), user: ownerOf(row) };
  }

  async findSession(hash: string): Promise<Credential | undefined> {
    const row = await guard(this.sessionByHash.first(this.database.db, hash));
    if (!row || !constantTimeEqual(row.secret_hash, hash)) return undefined;
    return { session: sessionRecord(row), user: ownerOf(row) };
  }

  private tokenQuery() {
    return this.database.db
      .selectFrom('personal_access_tokens as t')
      .innerJoin('users as u', 'u.id', 't.tokenable_id')
      .select([
        't.id',
        't.name',
        't.token',
        't.abilities',
        't.created_at',
        't.last_used_at',
        't.expires_at',
        'u.id as user_id',
        'u.name as user_name',
        'u.email as user_email',
        'u.created_at as user_created_at',
        'u.email_verified_at as user_email_verified_at',
      ])
      .where('t.tokenable_type', '=', USER_MODEL);
  }

  async issue(userId: number, issue: { token?: NewToken; session?: NewSession }, options: IssueOptions) {
    return this.database.transaction(async (trx) => {
      if (options.spendResetLink && !(await spendResetLink(trx, options.spendResetLink))) throw new ResetLinkSpentError();
      if (options.passwordHash !== undefined) await setPassword(trx, userId, options.passwordHash);
      const revoked = options.revokeOthers ? await this.deleteRows(trx, { user: userId }) : { tokens: [], sessions: [] };
      const tokenId = issue.token ? await insertToken(this.database, trx, userId, issue.token) : null;
      const sessionId = issue.session ? await this.insertSession(trx, userId, issue.session) : null;
      return { tokenId, sessionId, revoked };
    });
  }

  async listTokens(userId: number): Promise<TokenRecord[]> {
    const rows = await guard(
      this.database.db
        .selectFrom('personal_access_tokens')
        .selectAll()
        .where('tokenable_type', '=', USER_MODEL)
        .where('tokenable_id', '=', userId)
        .orderBy('id')
        .execute(),
    );
    return rows.map(tokenRecord);
  }

  async listSessions(userId: number): Promise<SessionRecord[]> {
    const rows = await guard(this.database.db.selectFrom('latchkey_sessions').selectAll().where('user_id', '=', userId).orderBy('id').execute());
    return rows.map(sessionRecord);
  }

  delete(rows: CredentialRows): Promise<Revoked> {
    return this.database.transaction((trx) => this.deleteRows(trx, rows));
  }

  async deleteAll(): Promise<{ tokens: number; sessions: number }> {
    return this.database.transaction(async (trx) => {
      const tokens = await trx.deleteFrom('personal_access_tokens').where('tokenable_type', '=', USER_MODEL).executeTakeFirst();
      const sessions = await trx.deleteFrom('latchkey_sessions').executeTakeFirst();
      return { tokens: Number(tokens.numDeletedRows), sessions: Number(sessions.numDeletedRows) };
    });
  }

  async touch(kind: 'tokens' | 'sessions', ids: number[], at: number): Promise<void> {
    const when = toSqlTime(at);
    const { db } = this.database;
    for (let i = 0; i < ids.length; i += IN_LIST_CHUNK) {
      const chunk = ids.slice(i, i + IN_LIST_CHUNK);
      if (kind === 'tokens') {
        await guard(db.updateTable('personal_access_tokens').set({ last_used_at: when }).where('id', 'in', chunk).execute());
      } else {
        // Never move activity backwards when another instance wrote a later time.
        await guard(db.updateTable('latchkey_sessions').set({ last_active_at: when }).where('id', 'in', chunk).where('last_active_at', '<', when).execute());
      }
    }
  }

  async prune(cutoffs: PruneCutoffs, batchSize: number, onProgress?: (tokensDeleted: number) => void) {
    const expiresBefore = toSqlTime(cutoffs.expiresBefore);
    const createdBefore = cutoffs.createdBefore === null ? null : toSqlTime(cutoffs.createdBefore);
    const idleBefore = toSqlTime(cutoffs.idleBefore);
    const { db } = this.database;
    const tokens = await this.deleteInBatches(
      'personal_access_tokens',
      () =>
        db
          .selectFrom('personal_access_tokens')
          .select('id')
          .where((eb) => {
            const expired = eb('expires_at', '<', expiresBefore);
            return createdBefore === null ? expired : eb.or([expired, eb('created_at', '<', createdBefore)]);
          })
          .orderBy('id')
          .limit(batchSize)
          .execute(),
      batchSize,
      onProgress,
    );
    const sessions = await this.deleteInBatches(
      'latchkey_sessions',
      () => db.selectFrom('latchkey_sessions').select('id').where('last_active_at', '<', idleBefore).limit(batchSize).execute(),
      batchSize,
    );
    return { tokens, sessions };
  }

  /** Small batches by primary key: each is a short transaction, so validations never wait long. */
  private async deleteInBatches(table: CredentialTable, nextBatch: () => Promise<{ id: number }[]>, batchSize: number, onProgress?: (deleted: number) => void) {
    let deleted = 0;
    for (;;) {
      const ids = await guard(nextBatch());
      if (ids.length === 0) return deleted;
      const result = await guard(this.database.db.deleteFrom(table).where('id', 'in', ids.map((r) => r.id)).executeTakeFirst());
      deleted += Number(result.numDeletedRows);
      onProgress?.(deleted);
      if (ids.length < batchSize) return deleted;
    }
  }

  /** Locks and deletes the rows; returns their hashes. */
  private async deleteRows(trx: Executor, rows: CredentialRows): Promise<Revoked> {
    const tokens =
      'session' in rows
        ? []
        : await this.lockForDelete(
            trx
              .selectFrom('personal_access_tokens')
              .select(['id', 'token as hash'])
              .where('tokenable_type', '=', USER_MODEL)
              .where('tokenable_id', '=', ownerId(rows))
              .$if('token' in rows, (q) => q.where('id', '=', (rows as { token: number }).token)),
          );
    const sessions =
      'token' in rows
        ? []
        : await this.lockForDelete(
            trx
              .selectFrom('latchkey_sessions')
              .select(['id', 'secret_hash as hash'])
              .where('user_id', '=', ownerId(rows))
              .$if('session' in rows, (q) => q.where('id', '=', (rows as { session: number }).session)),
          );
    await this.deleteByIds(trx, 'personal_access_tokens', tokens.map((t) => t.id));
    await this.deleteByIds(trx, 'latchkey_sessions', sessions.map((s) => s.id));
    return { tokens: tokens.map((t) => t.hash), sessions: sessions.map((s) => s.hash) };
  }

  private lockForDelete<Q extends { forUpdate(): Q; execute(): Promise<{ id: number; hash: string }[]> }>(query: Q) {
    // SQLite serialises writers already and has no FOR UPDATE.
    return (this.database.dialect === 'sqlite' ? query : query.forUpdate()).execute();
  }

  private async deleteByIds(trx: Executor, table: CredentialTable, ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += IN_LIST_CHUNK) {
      await trx.deleteFrom(table).where('id', 'in', ids.slice(i, i + IN_LIST_CHUNK)).execute();
    }
  }

  private async insertSession(trx: Executor, userId: number, session: NewSession): Promise<number> {
    const at = toSqlTime(session.createdAt);
    return this.database.insertId(trx, 'latchkey_sessions', {
      user_id: userId,
      secret_hash: session.hash,
      ip: session.ip,
      user_agent: session.userAgent,
      created_at: at,
      last_active_at: at,
    });
  }
}

/** Deletes the reset row if it still holds the hash that was checked; true when it did. */
async function spendResetLink(trx: Executor, link: ResetLink): Promise<boolean> {
  const deleted = await trx.deleteFrom('password_reset_tokens').where('email', '=', link.email).where('token', '=', link.tokenHash).executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1;
}

function ownerId(rows: CredentialRows): number {
  return 'user' in rows ? rows.user : rows.userId;
}

function ownerOf(row: { user_id: number; user_name: string | null; user_email: string; user_created_at: string | null; user_email_verified_at: string | null }): User {
  return { id: row.user_id, name: row.user_name, email: row.user_email, createdAt: fromSqlTime(row.user_created_at), emailVerifiedAt: fromSqlTime(row.user_email_verified_at) };
}

function tokenRecord(row: {
  id: number;
  tokenable_id: number;
  name: string;
  abilities: string | null;
  created_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
}): TokenRecord {
  return {
    id: Number(row.id),
    userId: Number(row.tokenable_id),
    name: row.name,
    abilities: parseAbilities(row.abilities),
    createdAt: fromSqlTime(row.created_at),
    lastUsedAt: fromSqlTime(row.last_used_at),
    expiresAt: fromSqlTime(row.expires_at),
  };
}

function sessionRecord(row: {
  id: number;
  user_id: number;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  last_active_at: string;
}): SessionRecord {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    ip: row.ip,
    userAgent: row.user_agent,
    createdAt: fromSqlTime(row.created_at) ?? 0,
    lastActiveAt: fromSqlTime(row.last_active_at) ?? 0,
  };
}

/** Sanctum stores a JSON array; anything else grants nothing rather than everything. */
function parseAbilities(raw: string | null): string[] {
  if (raw === null) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}
