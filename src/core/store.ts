// The narrow interface the core needs from the source of truth. SqlStore implements it for
// SQLite, PostgreSQL and MySQL/MariaDB.
import type { Revoked, SessionRecord, TokenRecord, User, UserWithPassword } from './types.js';

export interface NewToken {
  name: string;
  hash: string;
  abilities: string[];
  createdAt: number;
  expiresAt: number | null;
}

export interface NewSession {
  hash: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: number;
}

export interface IssueOptions {
  /** Delete the user's other tokens and sessions in the same transaction. */
  revokeOthers: boolean;
}

export interface PruneProgress {
  deleted: number;
}

/**
 * Written in the transaction that creates a user, after its row (the verification mail's outbox
 * row: src/mail/outbox.ts). `trx` is the store's transaction; SqlStore's is a Kysely one.
 */
export type UserCreatedHook = (trx: any, user: User) => Promise<void>;

export interface Store {
  readonly dialect: string;
  queryCount(): number;
  ping(): Promise<void>;
  close(): Promise<void>;

  findUserByEmail(email: string): Promise<UserWithPassword | undefined>;
  findUserById(id: number): Promise<UserWithPassword | undefined>;
  /** With its first token when given; throws EmailTakenError when the email exists (any case). */
  createUser(
    user: { name: string | null; email: string; passwordHash: string },
    token: NewToken | null,
    alsoWrite?: UserCreatedHook,
  ): Promise<{ user: User; tokenId: number | null }>;
  updatePasswordHash(userId: number, passwordHash: string): Promise<void>;

  issueToken(userId: number, token: NewToken, options: IssueOptions): Promise<{ tokenId: number; revoked: Revoked }>;
  issueSession(userId: number, session: NewSession, options: IssueOptions): Promise<{ sessionId: number; revoked: Revoked }>;
  /**
   * Sets the new hash, deletes every token and session of the user and issues the fresh
   * token (and session), in one transaction.
   */
  changePassword(
    userId: number,
    passwordHash: string,
    issue: { token: NewToken; session?: NewSession },
  ): Promise<{ tokenId: number; sessionId: number | null; revoked: Revoked }>;

  /** By id and constant-time hash comparison (`{id}|secret`), or by hash alone (bare secret). */
  findToken(id: number | null, hash: string): Promise<{ token: TokenRecord; user: User } | undefined>;
  listTokens(userId: number): Promise<TokenRecord[]>;
  deleteToken(userId: number, tokenId: number): Promise<string | undefined>;
  touchTokens(ids: number[], at: number): Promise<void>;

  findSession(hash: string): Promise<{ session: SessionRecord; user: User } | undefined>;
  listSessions(userId: number): Promise<SessionRecord[]>;
  deleteSession(userId: number, sessionId: number): Promise<string | undefined>;
  touchSessions(ids: number[], at: number): Promise<void>;

  /** Deletes every token and session of one user, or of everyone; returns what went. */
  revokeUser(userId: number): Promise<Revoked>;
  revokeEveryone(): Promise<{ tokens: number; sessions: number }>;

  /** Deletes in batches; calls onBatch after each committed batch. */
  pruneTokens(cutoff: { expiresBefore: number; createdBefore: number | null }, batchSize: number, onBatch?: (p: PruneProgress) => void): Promise<number>;
  pruneSessions(idleBefore: number, batchSize: number): Promise<number>;

  readCacheState(): Promise<{ epoch: number; redisRunId: string | null }>;
  /** Increments the epoch (and records the Redis it now trusts); returns the new epoch. */
  bumpEpoch(redisRunId?: string | null): Promise<number>;

  /** A lease by name; true when this holder got it. */
  acquireLock(name: string, holder: string, ttlMs: number): Promise<boolean>;
}
