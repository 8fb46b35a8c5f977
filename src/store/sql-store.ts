// The Store over Kysely, for SQLite, PostgreSQL and MySQL/MariaDB. Every write that issues or
// removes credentials is one transaction, and returns the hashes it removed so the caches can
// forget exactly those.
import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { EmailTakenError, UnavailableError } from '../core/errors.js';
import type { IssueOptions, NewSession, NewToken, Store, UserCreatedHook } from '../core/store.js';
import type { Revoked, SessionRecord, TokenRecord, User, UserWithPassword } from '../core/types.js';
import { connect, type ConnectOptions, type Connection, type DialectName } from './connect.js';
import { USER_MODEL, type Database, type UsersTable } from './schema.js';
import { fromSqlTime, toSqlTime } from './time.js';

type Executor = Kysely<Database> | Transaction<Database>;

const IN_LIST_CHUNK = 500;

export class SqlStore implements Store {
  readonly dialect: DialectName;
  readonly db: Kysely<Database>;
  private readonly connection: Connection;
  /** Every instance polls the epoch 20 times a second: compiled once, that costs less than half the CPU. */
  private readonly cacheStateQuery;

  constructor(url: string, options: ConnectOptions = {}) {
    this.connection = connect(url, options);
    this.db = this.connection.db;
    this.dialect = this.connection.dialect;
    this.cacheStateQuery = this.db.selectFrom('latchkey_cache_state').select(['epoch', 'redis_run_id']).where('id', '=', 1).compile();
  }

  queryCount(): number {
    return this.connection.queryCount();
  }

  async ping(): Promise<void> {
    await guard(sql`select 1`.execute(this.db));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // ---- users -------------------------------------------------------------------------------

  async findUserByEmail(email: string): Promise<UserWithPassword | undefined> {
    const normalised = email.trim().toLowerCase();
    let query = this.db.selectFrom('users').selectAll();
    // MySQL collations compare case-insensitively and use the unique index; the others use
    // the lower(email) index. The oldest account wins when two differ only in case.
    query = this.dialect === 'mysql' ? query.where('email', '=', normalised) : query.where(sql`lower(email)`, '=', normalised);
    const row = await guard(query.orderBy('id').limit(1).executeTakeFirst());
    return row && userWithPassword(row);
  }

  async findUserById(id: number): Promise<UserWithPassword | undefined> {
    const row = await guard(this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst());
    return row && userWithPassword(row);
  }

  async createUser(user: { name: string | null; email: string; passwordHash: string }, token: NewToken | null, alsoWrite?: UserCreatedHook) {
    return this.transaction(async (trx) => {
      if (await this.emailExists(trx, user.email)) throw new EmailTakenError();
      const now = toSqlTime(token?.createdAt ?? Date.now());
      let userId: number;
      try {
        userId = await this.insertId(trx, 'users', {
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
      const tokenId = token ? await this.insertToken(trx, userId, token) : null;
      const created: User = { id: userId, name: user.name, email: user.email, createdAt: fromSqlTime(now), emailVerifiedAt: null };
      await alsoWrite?.(trx, created);
      return { user: created, tokenId };
    });
  }

  async updatePasswordHash(userId: number, passwordHash: string): Promise<void> {
    await guard(
      this.db.updateTable('users').set({ password: passwordHash, updated_at: toSqlTime(Date.now()) }).where('id', '=', userId).execute(),
    );
  }

  private async emailExists(trx: Executor, email: string): Promise<boolean> {
    const query = trx.selectFrom('users').select('id');
    const row = await (this.dialect === 'mysql' ? query.where('email', '=', email) : query.where(sql`lower(email)`, '=', email)).executeTakeFirst();
    return row !== undefined;
  }

  // ---- issuing -----------------------------------------------------------------------------

  async issueToken(userId: number, token: NewToken, options: IssueOptions) {
    return this.transaction(async (trx) => {
      const revoked = options.revokeOthers ? await this.deleteCredentialsOf(trx, userId) : { tokens: [], sessions: [] };
      const tokenId = await this.insertToken(trx, userId, token);
      return { tokenId, revoked };
    });
  }

  async issueSession(userId: number, session: NewSession, options: IssueOptions) {
    return this.transaction(async (trx) => {
      const revoked = options.revokeOthers ? await this.deleteCredentialsOf(trx, userId) : { tokens: [], sessions: [] };
      const sessionId = await this.insertSession(trx, userId, session);
      return { sessionId, revoked };
    });
  }

  async changePassword(userId: number, passwordHash: string, issue: { token: NewToken; session?: NewSession }) {
    return this.transaction(async (trx) => {
      await trx.updateTable('users').set({ password: passwordHash, updated_at: toSqlTime(Date.now()) }).where('id', '=', userId).execute();
      const revoked = await this.deleteCredentialsOf(trx, userId);
      const tokenId = await this.insertToken(trx, userId, issue.token);
      const sessionId = issue.session ? await this.insertSession(trx, userId, issue.session) : null;
      return { tokenId, sessionId, revoked };
    });
  }

  private async insertToken(trx: Executor, userId: number, token: NewToken): Promise<number> {
    const at = toSqlTime(token.createdAt);
    return this.insertId(trx, 'personal_access_tokens', {
      tokenable_type: USER_MODEL,
      tokenable_id: userId,
      name: token.name,
      token: token.hash,
      abilities: JSON.stringify(token.abilities),
      last_used_at: null,
      expires_at: token.expiresAt === null ? null : toSqlTime(token.expiresAt),
      created_at: at,
      updated_at: at,
    });
  }

  private async insertSession(trx: Executor, userId: number, session: NewSession): Promise<number> {
    const at = toSqlTime(session.createdAt);
    return this.insertId(trx, 'latchkey_sessions', {
      user_id: userId,
      secret_hash: session.hash,
      ip: session.ip,
      user_agent: session.userAgent,
      created_at: at,
      last_active_at: at,
    });
  }

  private async insertId<T extends 'users' | 'personal_access_tokens' | 'latchkey_sessions'>(trx: Executor, table: T, values: any): Promise<number> {
    if (this.dialect === 'mysql') {
      const result = await trx.insertInto(table).values(values).executeTakeFirstOrThrow();
      return Number(result.insertId);
    }
    const row = await trx.insertInto(table).values(values).returning('id' as any).executeTakeFirstOrThrow();
    return Number((row as { id: number }).id);
  }

  /** Locks and deletes every token and session row of the user; returns their hashes. */
  private async deleteCredentialsOf(trx: Executor, userId: number): Promise<Revoked> {
    const tokens = await this.lockForDelete(
      trx.selectFrom('personal_access_tokens').select(['id', 'token as hash']).where('tokenable_type', '=', USER_MODEL).where('tokenable_id', '=', userId),
    );
    await this.deleteByIds(trx, 'personal_access_tokens', tokens.map((t) => t.id));
    const sessions = await this.lockForDelete(trx.selectFrom('latchkey_sessions').select(['id', 'secret_hash as hash']).where('user_id', '=', userId));
    await this.deleteByIds(trx, 'latchkey_sessions', sessions.map((s) => s.id));
    return { tokens: tokens.map((t) => t.hash), sessions: sessions.map((s) => s.hash) };
  }

  private lockForDelete<Q extends { forUpdate(): Q; execute(): Promise<{ id: number; hash: string }[]> }>(query: Q) {
    // SQLite serialises writers already and has no FOR UPDATE.
    return (this.dialect === 'sqlite' ? query : query.forUpdate()).execute();
  }

  private async deleteByIds(trx: Executor, table: 'personal_access_tokens' | 'latchkey_sessions', ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += IN_LIST_CHUNK) {
      await trx.deleteFrom(table).where('id', 'in', ids.slice(i, i + IN_LIST_CHUNK)).execute();
    }
  }

  // ---- tokens ------------------------------------------------------------------------------

  async findToken(id: number | null, hash: string) {
    let query = this.db
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
    query = id === null ? query.where('t.token', '=', hash) : query.where('t.id', '=', id);
    const row = await guard(query.executeTakeFirst());
    if (!row || !constantTimeEqual(row.token, hash)) return undefined;
    const user: User = { id: row.user_id, name: row.user_name, email: row.user_email, createdAt: fromSqlTime(row.user_created_at), emailVerifiedAt: fromSqlTime(row.user_email_verified_at) };
    return { token: tokenRecord({ ...row, tokenable_id: row.user_id }), user };
  }

  async listTokens(userId: number): Promise<TokenRecord[]> {
    const rows = await guard(
      this.db
        .selectFrom('personal_access_tokens')
        .selectAll()
        .where('tokenable_type', '=', USER_MODEL)
        .where('tokenable_id', '=', userId)
        .orderBy('id')
        .execute(),
    );
    return rows.map(tokenRecord);
  }

  async deleteToken(userId: number, tokenId: number): Promise<string | undefined> {
    return this.transaction(async (trx) => {
      const rows = await this.lockForDelete(
        trx
          .selectFrom('personal_access_tokens')
          .select(['id', 'token as hash'])
          .where('id', '=', tokenId)
          .where('tokenable_type', '=', USER_MODEL)
          .where('tokenable_id', '=', userId),
      );
      if (rows.length === 0) return undefined;
      await this.deleteByIds(trx, 'personal_access_tokens', [tokenId]);
      return rows[0]!.hash;
    });
  }

  async touchTokens(ids: number[], at: number): Promise<void> {
    const when = toSqlTime(at);
    for (let i = 0; i < ids.length; i += IN_LIST_CHUNK) {
      await guard(this.db.updateTable('personal_access_tokens').set({ last_used_at: when }).where('id', 'in', ids.slice(i, i + IN_LIST_CHUNK)).execute());
    }
  }

  // ---- sessions ----------------------------------------------------------------------------

  async findSession(hash: string) {
    const row = await guard(
      this.db
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
        .where('s.secret_hash', '=', hash)
        .executeTakeFirst(),
    );
    if (!row || !constantTimeEqual(row.secret_hash, hash)) return undefined;
    const user: User = { id: row.user_id, name: row.user_name, email: row.user_email, createdAt: fromSqlTime(row.user_created_at), emailVerifiedAt: fromSqlTime(row.user_email_verified_at) };
    return { session: sessionRecord(row), user };
  }

  async listSessions(userId: number): Promise<SessionRecord[]> {
    const rows = await guard(this.db.selectFrom('latchkey_sessions').selectAll().where('user_id', '=', userId).orderBy('id').execute());
    return rows.map(sessionRecord);
  }

  async deleteSession(userId: number, sessionId: number): Promise<string | undefined> {
    return this.transaction(async (trx) => {
      const rows = await this.lockForDelete(
        trx.selectFrom('latchkey_sessions').select(['id', 'secret_hash as hash']).where('id', '=', sessionId).where('user_id', '=', userId),
      );
      if (rows.length === 0) return undefined;
      await this.deleteByIds(trx, 'latchkey_sessions', [sessionId]);
      return rows[0]!.hash;
    });
  }

  async touchSessions(ids: number[], at: number): Promise<void> {
    const when = toSqlTime(at);
    for (let i = 0; i < ids.length; i += IN_LIST_CHUNK) {
      // Never move activity backwards when another instance wrote a later time.
      await guard(
        this.db
          .updateTable('latchkey_sessions')
          .set({ last_active_at: when })
          .where('id', 'in', ids.slice(i, i + IN_LIST_CHUNK))
          .where('last_active_at', '<', when)
          .execute(),
      );
    }
  }

  // ---- revocation and pruning --------------------------------------------------------------

  async revokeUser(userId: number): Promise<Revoked> {
    return this.transaction((trx) => this.deleteCredentialsOf(trx, userId));
  }

  async revokeEveryone(): Promise<{ tokens: number; sessions: number }> {
    return this.transaction(async (trx) => {
      const tokens = await trx.deleteFrom('personal_access_tokens').where('tokenable_type', '=', USER_MODEL).executeTakeFirst();
      const sessions = await trx.deleteFrom('latchkey_sessions').executeTakeFirst();
      return { tokens: Number(tokens.numDeletedRows), sessions: Number(sessions.numDeletedRows) };
    });
  }

  async pruneTokens(cutoff: { expiresBefore: number; createdBefore: number | null }, batchSize: number, onBatch?: (p: { deleted: number }) => void) {
    const expiresBefore = toSqlTime(cutoff.expiresBefore);
    const createdBefore = cutoff.createdBefore === null ? null : toSqlTime(cutoff.createdBefore);
    let deleted = 0;
    // Small batches by primary key: each is a short transaction, so validations never wait long.
    for (;;) {
      const ids = await guard(
        this.db
          .selectFrom('personal_access_tokens')
          .select('id')
          .where((eb) => {
            const expired = eb('expires_at', '<', expiresBefore);
            return createdBefore === null ? expired : eb.or([expired, eb('created_at', '<', createdBefore)]);
          })
          .orderBy('id')
          .limit(batchSize)
          .execute(),
      );
      if (ids.length === 0) return deleted;
      const result = await guard(this.db.deleteFrom('personal_access_tokens').where('id', 'in', ids.map((r) => r.id)).executeTakeFirst());
      deleted += Number(result.numDeletedRows);
      onBatch?.({ deleted });
      if (ids.length < batchSize) return deleted;
    }
  }

  async pruneSessions(idleBefore: number, batchSize: number): Promise<number> {
    const before = toSqlTime(idleBefore);
    let deleted = 0;
    for (;;) {
      const ids = await guard(this.db.selectFrom('latchkey_sessions').select('id').where('last_active_at', '<', before).limit(batchSize).execute());
      if (ids.length === 0) return deleted;
      const result = await guard(this.db.deleteFrom('latchkey_sessions').where('id', 'in', ids.map((r) => r.id)).executeTakeFirst());
      deleted += Number(result.numDeletedRows);
      if (ids.length < batchSize) return deleted;
    }
  }

  // ---- cache epoch and locks ---------------------------------------------------------------

  async readCacheState() {
    const { rows } = await guard(this.db.executeQuery(this.cacheStateQuery));
    const row = rows[0];
    if (!row) throw new Error('latchkey_cache_state has no row: run `latchkey migrate`');
    return { epoch: Number(row.epoch), redisRunId: row.redis_run_id };
  }

  async bumpEpoch(redisRunId?: string | null): Promise<number> {
    return this.transaction(async (trx) => {
      await trx
        .updateTable('latchkey_cache_state')
        .set((eb) => ({
          epoch: eb('epoch', '+', 1),
          updated_at: toSqlTime(Date.now()),
          ...(redisRunId === undefined ? {} : { redis_run_id: redisRunId }),
        }))
        .where('id', '=', 1)
        .execute();
      const row = await trx.selectFrom('latchkey_cache_state').select('epoch').where('id', '=', 1).executeTakeFirstOrThrow();
      return Number(row.epoch);
    });
  }

  async acquireLock(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    // Drop expired leases (this one's, and old ticks' so the table stays small), then insert:
    // whoever's row is there afterwards holds it. No transaction: a unique violation aborts a
    // PostgreSQL transaction, and neither statement needs the other's isolation.
    await guard(this.db.deleteFrom('latchkey_locks').where('expires_at', '<', toSqlTime(now)).execute());
    try {
      await guard(this.db.insertInto('latchkey_locks').values({ name, holder, expires_at: toSqlTime(now + ttlMs) }).execute());
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  private async transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return guard(this.db.transaction().execute(work));
  }
}

function userWithPassword(row: Selectable<UsersTable>): UserWithPassword {
  return { id: Number(row.id), name: row.name, email: row.email, createdAt: fromSqlTime(row.created_at), emailVerifiedAt: fromSqlTime(row.email_verified_at), passwordHash: row.password };
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

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isUniqueViolation(error: unknown): boolean {
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
async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof EmailTakenError || error instanceof UnavailableError) throw error;
    if (isUnavailable(error)) throw new UnavailableError(error);
    throw error;
  }
}
