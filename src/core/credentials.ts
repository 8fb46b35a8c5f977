// The one owner of credentials: it validates, issues and revokes tokens and sessions, and it is
// the only module that tells the cache tiers to forget one. The protocol in one page:
//
//  validate  parse the presented secret (wrong shapes never reach a cache or the database), take
//            the in-process tier's copy when it may be trusted (synchronously: no promise on the
//            warm path), else look it up in Redis and then the database (CredentialCache); then
//            judge expiry here and note the use for the batched last_used_at write.
//  issue     mint a secret, store only its SHA-256 in one transaction with whatever the rule
//            revokes alongside (a revoking login, a password change), then forget what went.
//  revoke    delete the rows first, then forget their hashes in every tier of every instance
//            (tombstones + the invalidation channel, or a new cache epoch when Redis cannot
//            confirm). When revoke() returns, this instance rejects them; others within 100 ms.
//
// The account rules (accounts.ts), the HTTP routes, the CLI, the scheduler and the cache's
// refresh-ahead all come through here.
import type { Config } from '../config.js';
import type { Metrics, ValidationOutcome, ValidationTimer } from '../observability/metrics.js';
import type { ActivityRecorder } from './activity.js';
import type { CredentialCache, CredentialRows, CredentialStore, NewSession, NewToken, NewUser, OutgoingMail, ResetLink, UserStore } from './ports.js';
import { newSecret, randomAlphanumeric, sha256Hex, tokenReader, type ParsedToken, type TokenReader } from './token-format.js';
import type { AuthContext, Revoked, SessionRecord, TokenRecord, User } from './types.js';

/** A value now, or later: the warm validation path answers without a promise. */
export type MaybePromise<T> = T | Promise<T>;

export interface IssuedToken {
  plainText: string;
  tokenId: number;
  expiresAt: number | null;
  user: User;
}

export interface IssuedSession {
  /** The cookie value; only its SHA-256 is stored. */
  secret: string;
  sessionId: number;
  user: User;
}

export interface ClientInfo {
  ip: string;
  userAgent: string | null;
}

export interface TokenSpec {
  name: string;
  abilities: string[];
  /** A shorter lifetime than TOKEN_EXPIRATION, or null for the default. */
  lifetimeMinutes: number | null;
}

/**
 * What a revocation removes: rows (one token or session of a user, or all of a user's), the
 * session behind a cookie secret, every credential of everyone, or a credential another
 * program already deleted (found gone by a background re-read).
 */
export type Revocation = CredentialRows | { sessionSecret: string } | { everyone: true } | { gone: { kind: 't' | 's'; hash: string } };

export interface RevokedCount {
  tokens: number;
  sessions: number;
}

const SESSION_SECRET_LENGTH = 40;
/** What a cookie value must look like before it is hashed and looked up. */
const SESSION_SECRET = /^[A-Za-z0-9]{1,128}$/;
/** The database keeps whole seconds. */
const wholeSecond = (ms: number) => Math.floor(ms / 1000) * 1000;

export interface CredentialsDeps {
  config: Config;
  store: CredentialStore;
  users: UserStore;
  cache: CredentialCache;
  activity: ActivityRecorder;
  metrics: Metrics;
}

export class Credentials {
  private readonly tokens: TokenReader;
  private readonly sessionLifetimeMs: number;

  constructor(private readonly deps: CredentialsDeps) {
    this.tokens = tokenReader(deps.config.tokenPrefix);
    this.sessionLifetimeMs = deps.config.sessionLifetimeMinutes * 60_000;
  }

  // ---- validate (the hot path) ---------------------------------------------------------------

  /**
   * Resolves a bearer token, or undefined when it is not valid now. Synchronous when the
   * in-process tier holds the token (no promise, no I/O), else a promise.
   */
  validateToken(raw: string): MaybePromise<AuthContext | undefined> {
    const timer = this.deps.metrics.startValidationTimer();
    const parsed = this.tokens.parse(raw);
    if (!parsed) return this.outcome('token', 'malformed', timer);
    const cached = this.deps.cache.cached('t', parsed.hash);
    if (cached) return this.acceptToken(parsed, cached, timer);
    // Garbage must not reach Redis or the database; a hit needed no CRC32 (see tokenReader).
    if (!this.tokens.checksumValid(raw)) return this.outcome('token', 'malformed', timer);
    return this.deps.cache.lookup('t', parsed.hash, parsed.id).then((found) => this.acceptToken(parsed, found, timer));
  }

  /** Resolves a session cookie's secret, like validateToken (synchronous when warm). */
  validateSession(secret: string): MaybePromise<AuthContext | undefined> {
    const timer = this.deps.metrics.startValidationTimer();
    if (!SESSION_SECRET.test(secret)) return this.outcome('session', 'malformed', timer);
    const hash = sha256Hex(secret);
    const cached = this.deps.cache.cached('s', hash);
    if (cached) return this.acceptSession(cached, timer);
    return this.deps.cache.lookup('s', hash, null).then((found) => this.acceptSession(found, timer));
  }

  private acceptToken(parsed: ParsedToken, found: AuthContext | undefined, timer: ValidationTimer): AuthContext | undefined {
    const token = found?.token;
    // The cache is keyed by hash: `{other id}|{right secret}` must fail as it does in Sanctum.
    if (!token || (parsed.id !== null && token.id !== parsed.id)) return this.outcome('token', 'unknown', timer);
    const now = Date.now();
    const expiresAt = this.expiryOf(token);
    if (expiresAt !== null && expiresAt <= now) return this.outcome('token', 'expired', timer);
    this.deps.activity.token(token.id, now);
    this.deps.metrics.recordValidation('token', 'valid', timer);
    return found;
  }

  private acceptSession(found: AuthContext | undefined, timer: ValidationTimer): AuthContext | undefined {
    const session = found?.session;
    if (!session) return this.outcome('session', 'unknown', timer);
    const now = Date.now();
    if (this.sessionIdle(session, now)) return this.outcome('session', 'expired', timer);
    this.deps.activity.session(session.id, now);
    this.deps.metrics.recordValidation('session', 'valid', timer);
    return found;
  }

  /** Whether this instance's in-process tier keeps `ctx`, a validated credential: what is derived from it may then be kept with it. */
  keptInProcess(ctx: AuthContext): boolean {
    return this.deps.cache.keeps(ctx);
  }

  /** Effective expiry: the row's expires_at and, with TOKEN_EXPIRATION, created_at + lifetime. */
  expiryOf(token: TokenRecord): number | null {
    const minutes = this.deps.config.tokenExpirationMinutes;
    if (minutes === 0) return token.expiresAt;
    // Sanctum cannot judge the age of a row without created_at; neither do we.
    const byAge = token.createdAt === null ? 0 : token.createdAt + minutes * 60_000;
    return token.expiresAt === null ? byAge : Math.min(token.expiresAt, byAge);
  }

  /**
   * The row's last_used_at, or a later use this instance has seen and not written yet, in
   * whole seconds as the column holds it.
   */
  lastUsedAt(token: TokenRecord): number | null {
    const seen = this.deps.activity.lastTokenUse(token.id);
    if (seen === undefined) return token.lastUsedAt;
    const second = wholeSecond(seen);
    return token.lastUsedAt === null || second > token.lastUsedAt ? second : token.lastUsedAt;
  }

  /** The session's latest activity: its row's, or a later use seen here and not written yet. */
  private lastActive(session: SessionRecord): number {
    return Math.max(session.lastActiveAt, this.deps.activity.lastSessionUse(session.id) ?? 0);
  }

  /** The one idle rule: a session unused for SESSION_LIFETIME has ended. */
  private sessionIdle(session: SessionRecord, now: number): boolean {
    return now - this.lastActive(session) >= this.sessionLifetimeMs;
  }

  // ---- issue -----------------------------------------------------------------------------

  async issueToken(user: User, spec: TokenSpec, options: { revokeOthers: boolean }): Promise<IssuedToken> {
    const { secret, token } = this.mintToken(spec);
    const { tokenId, revoked } = await this.deps.store.issue(user.id, { token }, options);
    await this.forget(revoked);
    return issuedToken(tokenId!, secret, token, user);
  }

  /**
   * A new account and its first token, in one transaction (no user is left without it), with
   * the mail `welcome` makes for it (the verification mail).
   */
  async issueForNewUser(newUser: NewUser, spec: TokenSpec, welcome?: (user: User) => OutgoingMail): Promise<IssuedToken> {
    const { secret, token } = this.mintToken(spec);
    const { user, tokenId } = await this.deps.users.create(newUser, token, welcome);
    return issuedToken(tokenId!, secret, token, user);
  }

  /**
   * A new session (always a new id: no fixation). `replacing` is the cookie the browser sent,
   * whose session ends here as Laravel's login does, so signing in again leaves no orphan device.
   */
  async issueSession(user: User, client: ClientInfo, options: { revokeOthers: boolean; replacing?: string }): Promise<IssuedSession> {
    if (options.replacing) await this.revoke({ sessionSecret: options.replacing });
    const { secret, session } = mintSession(client);
    const { sessionId, revoked } = await this.deps.store.issue(user.id, { session }, { revokeOthers: options.revokeOthers });
    await this.forget(revoked);
    return { secret, sessionId: sessionId!, user: publicUser(user) };
  }

  /**
   * A password change: the new hash, every token and session of the user revoked, and a fresh
   * token (and session, for a cookie-authenticated change), all in one transaction.
   */
  async replaceAll(user: User, passwordHash: string, fresh: { tokenName: string; sessionFor?: ClientInfo }): Promise<{ token: IssuedToken; session: IssuedSession | null }> {
    const { secret, token } = this.mintToken({ name: fresh.tokenName, abilities: ['*'], lifetimeMinutes: null });
    const minted = fresh.sessionFor && mintSession(fresh.sessionFor);
    const { tokenId, sessionId, revoked } = await this.deps.store.issue(user.id, { token, session: minted?.session }, { revokeOthers: true, passwordHash });
    await this.forget(revoked);
    return {
      token: issuedToken(tokenId!, secret, token, user),
      session: minted && sessionId !== null ? { secret: minted.secret, sessionId, user: publicUser(user) } : null,
    };
  }

  /**
   * A password reset: the new hash, the reset link spent and every token and session of the
   * user revoked, all in one transaction, then forgotten everywhere; a crash leaves either the
   * old password with its credentials or the new one with none. Throws ResetLinkSpentError when
   * the link was spent since it was checked (nothing changes then).
   */
  async resetPassword(userId: number, passwordHash: string, link: ResetLink): Promise<RevokedCount> {
    const { revoked } = await this.deps.store.issue(userId, {}, { revokeOthers: true, passwordHash, spendResetLink: link });
    await this.forget(revoked);
    return { tokens: revoked.tokens.length, sessions: revoked.sessions.length };
  }

  private mintToken(spec: TokenSpec): { secret: string; token: NewToken } {
    const secret = newSecret(this.deps.config.tokenPrefix);
    const createdAt = wholeSecond(Date.now());
    const configured = this.deps.config.tokenExpirationMinutes;
    const minutes = configured > 0 ? Math.min(configured, spec.lifetimeMinutes ?? configured) : spec.lifetimeMinutes;
    const expiresAt = minutes === null ? null : createdAt + minutes * 60_000;
    return { secret, token: { name: spec.name, hash: sha256Hex(secret), abilities: spec.abilities, createdAt, expiresAt } };
  }

  // ---- revoke ----------------------------------------------------------------------------

  /** Deletes, then forgets everywhere; returns how many rows went. */
  async revoke(what: Revocation): Promise<RevokedCount> {
    if ('everyone' in what) {
      const counts = await this.deps.store.deleteAll();
      await this.deps.cache.invalidateAll(); // every cached entry of every instance is now worthless
      return counts;
    }
    let revoked: Revoked;
    if ('gone' in what) revoked = what.gone.kind === 't' ? { tokens: [what.gone.hash], sessions: [] } : { tokens: [], sessions: [what.gone.hash] };
    else if ('sessionSecret' in what) revoked = await this.deleteSessionBySecret(what.sessionSecret);
    else revoked = await this.deps.store.delete(what);
    await this.forget(revoked);
    return { tokens: revoked.tokens.length, sessions: revoked.sessions.length };
  }

  /** Drops latchkey's cached entries (Redis and every instance's memory); the database is untouched. */
  clearCache(): Promise<number> {
    return this.deps.cache.clear();
  }

  private async deleteSessionBySecret(secret: string): Promise<Revoked> {
    const found = SESSION_SECRET.test(secret) ? await this.deps.store.findSession(sha256Hex(secret)) : undefined;
    return found?.session ? this.deps.store.delete({ session: found.session.id, userId: found.user.id }) : { tokens: [], sessions: [] };
  }

  private forget(revoked: Revoked): Promise<void> {
    return this.deps.cache.forget(revoked);
  }

  // ---- list and prune --------------------------------------------------------------------

  /** The user's live tokens, with uses seen here and not written yet. */
  async listTokens(userId: number): Promise<TokenRecord[]> {
    const now = Date.now();
    const tokens = await this.deps.store.listTokens(userId);
    return tokens
      .filter((t) => {
        const expiresAt = this.expiryOf(t);
        return expiresAt === null || expiresAt > now;
      })
      .map((t) => ({ ...t, lastUsedAt: this.lastUsedAt(t) }));
  }

  /** The user's live sessions (devices). */
  async listSessions(userId: number): Promise<SessionRecord[]> {
    const now = Date.now();
    const sessions = await this.deps.store.listSessions(userId);
    return sessions.filter((s) => !this.sessionIdle(s, now)).map((s) => ({ ...s, lastActiveAt: this.lastActive(s) }));
  }

  /**
   * Deletes tokens expired for more than `hours` (as Sanctum's sanctum:prune-expired does) and
   * sessions idle past their lifetime by as much, in batches so validation never waits. Expired
   * credentials are rejected already, so no cache needs telling.
   */
  async prune(hours: number, onProgress?: (tokensDeleted: number) => void): Promise<RevokedCount & { ms: number }> {
    const started = Date.now();
    const graceMs = hours * 3_600_000;
    const expiration = this.deps.config.tokenExpirationMinutes;
    const counts = await this.deps.store.prune(
      {
        expiresBefore: started - graceMs,
        createdBefore: expiration > 0 ? started - expiration * 60_000 - graceMs : null,
        idleBefore: started - this.sessionLifetimeMs - graceMs,
      },
      PRUNE_BATCH_SIZE,
      onProgress,
    );
    return { ...counts, ms: Date.now() - started };
  }

  private outcome(kind: 'token' | 'session', outcome: ValidationOutcome, timer: ValidationTimer): undefined {
    this.deps.metrics.recordValidation(kind, outcome, timer);
    return undefined;
  }
}

export const PRUNE_BATCH_SIZE = 1000;

function mintSession(client: ClientInfo): { secret: string; session: NewSession } {
  const secret = randomAlphanumeric(SESSION_SECRET_LENGTH);
  return {
    secret,
    session: { hash: sha256Hex(secret), ip: client.ip.slice(0, 45), userAgent: client.userAgent?.slice(0, 1000) ?? null, createdAt: wholeSecond(Date.now()) },
  };
}

function issuedToken(tokenId: number, secret: string, token: NewToken, user: User): IssuedToken {
  return { plainText: `${tokenId}|${secret}`, tokenId, expiresAt: token.expiresAt, user: publicUser(user) };
}

/** A user without its password hash (UserWithPassword is a User too). */
export function publicUser(user: User): User {
  return { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt, emailVerifiedAt: user.emailVerifiedAt };
}

export function hasAbility(ctx: AuthContext, ability: string): boolean {
  return ctx.abilities.includes('*') || ctx.abilities.includes(ability);
}
