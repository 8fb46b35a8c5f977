// The narrow interfaces the core needs from the outside world, one per concern. src/store/
// implements the database ones (SQLite, PostgreSQL, MySQL/MariaDB), src/cache/ the cache.
import type { AuthContext, Revoked, SessionRecord, TokenRecord, User, UserWithPassword } from './types.js';

// ---- credentials (tokens and sessions): the source of truth ----------------------------------

/** What a token or session row authenticates, with its owner. */
export interface Credential {
  user: User;
  token?: TokenRecord;
  session?: SessionRecord;
}

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
  /** Set this password hash in the same transaction (a password change). */
  passwordHash?: string;
  /**
   * Spend this password reset link in the same transaction (a password reset): its row is
   * deleted only if it still holds the hash that was checked, else the whole transaction is
   * undone with ResetLinkSpentError (of two resets racing with one link, one wins).
   */
  spendResetLink?: ResetLink;
}

/** A password_reset_tokens row as checked: Laravel's broker keys it by email. */
export interface ResetLink {
  email: string;
  /** The hash of the token (bcrypt or argon2id), as Laravel's broker writes it. */
  tokenHash: string;
}

/** Which rows a revocation deletes. */
export type CredentialRows = { token: number; userId: number } | { session: number; userId: number } | { user: number };

export interface PruneCutoffs {
  /** Tokens whose expires_at is before this. */
  expiresBefore: number;
  /** Tokens created before this (TOKEN_EXPIRATION), or null. */
  createdBefore: number | null;
  /** Sessions idle since before this. */
  idleBefore: number;
}

export interface CredentialStore {
  /** By id and constant-time hash comparison (`{id}|secret`), or by hash alone (bare secret). */
  findToken(id: number | null, hash: string): Promise<Credential | undefined>;
  findSession(hash: string): Promise<Credential | undefined>;
  /** Inserts a token and/or a session in one transaction, with what `options` asks for. */
  issue(userId: number, issue: { token?: NewToken; session?: NewSession }, options: IssueOptions): Promise<{ tokenId: number | null; sessionId: number | null; revoked: Revoked }>;
  listTokens(userId: number): Promise<TokenRecord[]>;
  listSessions(userId: number): Promise<SessionRecord[]>;
  /** Deletes the rows; returns the hashes of what went (nothing when no row matched). */
  delete(rows: CredentialRows): Promise<Revoked>;
  /** Deletes every user's tokens and sessions; returns how many. */
  deleteAll(): Promise<{ tokens: number; sessions: number }>;
  /** Writes last_used_at (tokens) or a later last_active_at (sessions). */
  touch(kind: 'tokens' | 'sessions', ids: number[], at: number): Promise<void>;
  /** Deletes expired rows in batches of `batchSize`, reporting tokens deleted after each. */
  prune(cutoffs: PruneCutoffs, batchSize: number, onProgress?: (tokensDeleted: number) => void): Promise<{ tokens: number; sessions: number }>;
}

// ---- users --------------------------------------------------------------------------------

export interface NewUser {
  name: string | null;
  email: string;
  passwordHash: string;
}

/** A mail recorded in the outbox (src/mail/outbox.ts) and sent after the transaction that made it true. */
export interface OutgoingMail {
  template: 'password-reset' | 'verify-email';
  to: string;
  values: Record<string, string>;
}

export interface UserStore {
  findByEmail(email: string): Promise<UserWithPassword | undefined>;
  /** Equal for every spelling findByEmail resolves to the same account, existing or not (the rate limits' key). */
  rateLimitKey(email: string): Promise<string>;
  findById(id: number): Promise<UserWithPassword | undefined>;
  /**
   * With its first token when given, and the mail `welcome` makes for the new user (the
   * verification mail), in one transaction; throws EmailTakenError when the email exists (any case).
   */
  create(user: NewUser, firstToken: NewToken | null, welcome?: (user: User) => OutgoingMail): Promise<{ user: User; tokenId: number | null }>;
  setPasswordHash(userId: number, passwordHash: string): Promise<void>;
}

// ---- the cache epoch (docs/revocation.md) and the scheduler's leases ----------------------

export interface CacheState {
  epoch: number;
  /** The Redis data set the epoch is sealed to. */
  redisRunId: string | null;
}

export interface CacheStateStore {
  read(): Promise<CacheState>;
  /** Increments the epoch (and records the Redis it now trusts); returns the new epoch. */
  bump(redisRunId?: string | null): Promise<number>;
}

export interface LockStore {
  /** A lease by name; true when this holder got it. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
}

// ---- the cache tiers in front of the credential store ----------------------------------------

export type CredentialKind = 't' | 's';
export type CacheStatus = 'up' | 'down' | 'memory';

/**
 * What the credentials module needs from the cache tiers (src/cache/credential-cache.ts: an
 * in-process tier kept coherent through Redis, and the database behind both).
 */
export interface CredentialCache {
  /** The in-process tier's copy when it may be trusted and is fresh: synchronous, no I/O. */
  cached(kind: CredentialKind, hash: string): AuthContext | undefined;
  /** The miss path: Redis when it may be trusted, else the database (filling the tiers). */
  lookup(kind: CredentialKind, hash: string, tokenId: number | null): Promise<AuthContext | undefined>;
  /**
   * Whether the in-process tier keeps this validated credential (one of cached()'s or lookup()'s
   * answers), so that what is derived from it may be kept with it.
   */
  keeps(ctx: AuthContext): boolean;
  /** Every tier of every instance forgets these; this instance already has when it resolves. */
  forget(revoked: Revoked): Promise<void>;
  /** Makes every cached entry of every instance worthless (a new cache epoch). */
  invalidateAll(): Promise<void>;
  /** Deletes latchkey's keys from Redis, then invalidates everything; returns the keys deleted. */
  clear(): Promise<number>;
  status(): CacheStatus;
}
