// The core of latchkey, free of HTTP: accounts, tokens and sessions, their validation through
// the cache tiers, and every revocation rule of API.md. The HTTP layer and the CLI call it.
import type { Logger } from 'pino';
import type { CredentialCache } from '../cache/credential-cache.js';
import type { CacheEntry } from '../cache/entry.js';
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { Config } from '../config.js';
import type { Metrics, ValidationOutcome, ValidationTimer } from '../observability/metrics.js';
import type { ActivityRecorder } from './activity.js';
import { EmailTakenError, emailTaken, invalidCredentials, notFound, tooManyRequests, unauthenticated } from './errors.js';
import { LOGIN_MAX_BYTES, type PasswordHasher } from './passwords.js';
import type { NewSession, NewToken, Store, UserCreatedHook } from './store.js';
import { newSecret, randomAlphanumeric, sha256Hex, tokenReader, type ParsedToken, type TokenReader } from './token-format.js';
import type { AuthContext, SessionRecord, TokenRecord, User, UserWithPassword } from './types.js';
import * as v from './validation.js';

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

const DEFAULT_TOKEN_NAME = 'auth_token';
const SESSION_SECRET_LENGTH = 40;
/** What a cookie value must look like before it is hashed and looked up. */
const SESSION_SECRET = /^[A-Za-z0-9]{1,128}$/;

export interface AuthServiceDeps {
  config: Config;
  store: Store;
  cache: CredentialCache;
  hasher: PasswordHasher;
  rateLimiter: RateLimiter;
  activity: ActivityRecorder;
  metrics: Metrics;
  logger: Logger;
  /** Written with every new user, in its transaction (the verification mail); `committed` after. */
  onUserCreated?: { write: UserCreatedHook; committed: () => void };
}

export class AuthService {
  private readonly config: Config;
  private readonly store: Store;
  private readonly cache: CredentialCache;
  private readonly hasher: PasswordHasher;
  private readonly tokens: TokenReader;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: AuthServiceDeps) {
    ({ config: this.config, store: this.store, cache: this.cache, hasher: this.hasher } = deps);
    this.tokens = tokenReader(this.config.tokenPrefix);
  }

  // ---- accounts ----------------------------------------------------------------------------

  async register(body: v.Body): Promise<IssuedToken> {
    const deviceName = v.optionalString(body, 'device_name', new v.FieldErrors(), v.MAX_NAME_LENGTH);
    const { secret, token } = this.newToken(deviceName || DEFAULT_TOKEN_NAME, ['*'], null);
    const { user, tokenId } = await this.createUser(body, token);
    return { plainText: `${tokenId}|${secret}`, tokenId: tokenId!, expiresAt: token.expiresAt, user };
  }

  /** Validates and creates an account (and its first token when given). */
  async createUser(body: v.Body, token: NewToken | null = null): Promise<{ user: User; tokenId: number | null }> {
    const errors = new v.FieldErrors();
    const email = v.email(body, errors);
    const password = v.newPassword(body, 'password', errors, this.config.passwordMinLength, this.hasher.maxBytes);
    const name = v.optionalString(body, 'name', errors, v.MAX_NAME_LENGTH);
    v.optionalString(body, 'device_name', errors, v.MAX_NAME_LENGTH);
    errors.throwIfAny();

    if (await this.store.findUserByEmail(email!)) throw emailTaken();
    const passwordHash = await this.hasher.hash(password!);
    try {
      const created = await this.store.createUser({ name: name ?? null, email: email!, passwordHash }, token, this.deps.onUserCreated?.write);
      this.deps.onUserCreated?.committed();
      return created;
    } catch (error) {
      if (error instanceof EmailTakenError) throw emailTaken();
      throw error;
    }
  }

  async login(body: v.Body, client: ClientInfo): Promise<IssuedToken> {
    // Checked before the password, as register does: a bad device_name is 422, not ignored.
    const errors = new v.FieldErrors();
    const deviceName = v.optionalString(body, 'device_name', errors, v.MAX_NAME_LENGTH);
    errors.throwIfAny();
    const { user } = await this.checkLogin(body, client);
    return this.issueToken(user, deviceName || DEFAULT_TOKEN_NAME, ['*'], null, this.config.loginRevokesOtherTokens);
  }

  /**
   * Session login (API.md §4): the same checks as login, and a session instead of a token. The
   * id is always new (no fixation); `replacing` is the cookie the browser sent, whose session
   * ends here as Laravel's login does, so signing in again leaves no orphan device behind.
   */
  async loginSession(body: v.Body, client: ClientInfo, replacing?: string): Promise<IssuedSession> {
    const { user } = await this.checkLogin(body, client);
    if (replacing) await this.endSessionBySecret(replacing);
    const { secret, session } = this.newSession(client);
    const { sessionId, revoked } = await this.store.issueSession(user.id, session, { revokeOthers: this.config.loginRevokesOtherTokens });
    await this.cache.forget(revoked);
    return { secret, sessionId, user: publicUser(user) };
  }

  async changePassword(ctx: AuthContext, body: v.Body, client: ClientInfo): Promise<{ token: IssuedToken; session: IssuedSession | null }> {
    const errors = new v.FieldErrors();
    const current = v.requiredString(body, 'current_password', errors);
    const password = v.newPassword(body, 'password', errors, this.config.passwordMinLength, this.hasher.maxBytes);
    errors.throwIfAny();

    const user = await this.store.findUserById(ctx.user.id);
    if (!user) throw unauthenticated();
    await this.limitAttempt(user.email, client.ip);
    if (Buffer.byteLength(current!) > LOGIN_MAX_BYTES || !(await this.hasher.verify(current!, user.passwordHash))) {
      throw v.validationFailedFor('current_password', 'is incorrect');
    }
    await this.deps.rateLimiter.clear(user.email, client.ip);

    const passwordHash = await this.hasher.hash(password!);
    const { secret, token } = this.newToken(ctx.token?.name ?? DEFAULT_TOKEN_NAME, ['*'], null);
    const fresh = ctx.session ? this.newSession(client) : undefined;
    const { tokenId, sessionId, revoked } = await this.store.changePassword(user.id, passwordHash, { token, session: fresh?.session });
    await this.cache.forget(revoked);
    const publicU = publicUser(user);
    return {
      token: { plainText: `${tokenId}|${secret}`, tokenId, expiresAt: token.expiresAt, user: publicU },
      session: fresh && sessionId !== null ? { secret: fresh.secret, sessionId, user: publicU } : null,
    };
  }

  // ---- validation (the hot path) -----------------------------------------------------------

  /**
   * Resolves a bearer token, or undefined when it is not valid now. Synchronous when the
   * in-process tier holds the token (the warm path: no promise, no I/O), else a promise.
   */
  authenticateToken(raw: string): MaybePromise<AuthContext | undefined> {
    const timer = this.deps.metrics.startValidationTimer();
    const parsed = this.tokens.parse(raw);
    if (!parsed) return this.outcome('token', 'malformed', timer);
    const cached = this.cache.peek('t', parsed.hash);
    if (cached) return this.acceptToken(parsed, cached, timer);
    // Garbage must not reach Redis or the database; a hit needed no CRC32 (see tokenReader).
    if (!this.tokens.checksumValid(raw)) return this.outcome('token', 'malformed', timer);
    return this.cache.fetch('t', parsed.hash, () => this.store.findToken(parsed.id, parsed.hash)).then((entry) => this.acceptToken(parsed, entry, timer));
  }

  private acceptToken(parsed: ParsedToken, entry: CacheEntry | undefined, timer: ValidationTimer): AuthContext | undefined {
    const token = entry?.token;
    // The cache is keyed by hash: `{other id}|{right secret}` must fail as it does in Sanctum.
    if (!token || (parsed.id !== null && token.id !== parsed.id)) return this.outcome('token', 'unknown', timer);
    const now = Date.now();
    const expiresAt = this.tokenExpiry(token);
    if (expiresAt !== null && expiresAt <= now) return this.outcome('token', 'expired', timer);
    this.deps.activity.token(token.id, now);
    this.deps.metrics.recordValidation('token', 'valid', timer);
    return entry;
  }

  /** Resolves a session cookie's secret, like authenticateToken (synchronous when warm). */
  authenticateSession(secret: string): MaybePromise<AuthContext | undefined> {
    const timer = this.deps.metrics.startValidationTimer();
    if (!SESSION_SECRET.test(secret)) return this.outcome('session', 'malformed', timer);
    const hash = sha256Hex(secret);
    const cached = this.cache.peek('s', hash);
    if (cached) return this.acceptSession(cached, timer);
    return this.cache.fetch('s', hash, () => this.store.findSession(hash)).then((entry) => this.acceptSession(entry, timer));
  }

  private acceptSession(entry: CacheEntry | undefined, timer: ValidationTimer): AuthContext | undefined {
    const session = entry?.session;
    if (!session) return this.outcome('session', 'unknown', timer);
    const now = Date.now();
    const lastActive = Math.max(session.lastActiveAt, this.deps.activity.lastSessionUse(session.id) ?? 0);
    if (now - lastActive >= this.config.sessionLifetimeMinutes * 60_000) return this.outcome('session', 'expired', timer);
    this.deps.activity.session(session.id, now);
    this.deps.metrics.recordValidation('session', 'valid', timer);
    return entry;
  }

  /** Effective expiry: the row's expires_at and, with TOKEN_EXPIRATION, created_at + lifetime. */
  tokenExpiry(token: TokenRecord): number | null {
    const minutes = this.config.tokenExpirationMinutes;
    if (minutes === 0) return token.expiresAt;
    // Sanctum cannot judge the age of a row without created_at; neither do we.
    const byAge = token.createdAt === null ? 0 : token.createdAt + minutes * 60_000;
    return token.expiresAt === null ? byAge : Math.min(token.expiresAt, byAge);
  }

  // ---- tokens and sessions of the signed-in user -------------------------------------------

  async logout(ctx: AuthContext): Promise<void> {
    if (ctx.token) {
      const hash = await this.store.deleteToken(ctx.user.id, ctx.token.id);
      if (hash) await this.cache.forget({ tokens: [hash], sessions: [] });
    } else if (ctx.session) {
      await this.endSession(ctx, ctx.session.id);
    }
  }

  async listTokens(ctx: AuthContext): Promise<TokenRecord[]> {
    const now = Date.now();
    const tokens = await this.store.listTokens(ctx.user.id);
    return tokens
      .filter((t) => {
        const expiresAt = this.tokenExpiry(t);
        return expiresAt === null || expiresAt > now;
      })
      .map((t) => ({ ...t, lastUsedAt: this.lastUsedAt(t) }));
  }

  async createToken(ctx: AuthContext, body: v.Body): Promise<IssuedToken> {
    const errors = new v.FieldErrors();
    const name = v.requiredString(body, 'name', errors);
    if (name !== undefined && [...name].length > v.MAX_NAME_LENGTH) errors.add('name', `must be at most ${v.MAX_NAME_LENGTH} characters`);
    const abilities = v.abilities(body, errors);
    const minutes = v.positiveInteger(body, 'expires_in_minutes', errors);
    errors.throwIfAny();
    return this.issueToken(ctx.user, name!, abilities!, minutes ?? null, false);
  }

  async deleteToken(ctx: AuthContext, tokenId: number): Promise<void> {
    const hash = Number.isSafeInteger(tokenId) && tokenId > 0 ? await this.store.deleteToken(ctx.user.id, tokenId) : undefined;
    if (!hash) throw notFound('No such token.');
    await this.cache.forget({ tokens: [hash], sessions: [] });
  }

  async listSessions(ctx: AuthContext): Promise<SessionRecord[]> {
    const now = Date.now();
    const lifetimeMs = this.config.sessionLifetimeMinutes * 60_000;
    const sessions = await this.store.listSessions(ctx.user.id);
    return sessions
      .map((s) => ({ ...s, lastActiveAt: Math.max(s.lastActiveAt, this.deps.activity.lastSessionUse(s.id) ?? 0) }))
      .filter((s) => now - s.lastActiveAt < lifetimeMs);
  }

  async endSession(ctx: AuthContext, sessionId: number): Promise<void> {
    const hash = Number.isSafeInteger(sessionId) && sessionId > 0 ? await this.store.deleteSession(ctx.user.id, sessionId) : undefined;
    if (!hash) throw notFound('No such session.');
    await this.cache.forget({ tokens: [], sessions: [hash] });
  }

  private async endSessionBySecret(secret: string): Promise<void> {
    if (!SESSION_SECRET.test(secret)) return;
    const found = await this.store.findSession(sha256Hex(secret));
    const hash = found && (await this.store.deleteSession(found.session.userId, found.session.id));
    if (hash) await this.cache.forget({ tokens: [], sessions: [hash] });
  }

  /**
   * The row's last_used_at, or a later use this instance has seen and not written yet, in
   * whole seconds as the column holds it.
   */
  lastUsedAt(token: TokenRecord): number | null {
    const seen = this.deps.activity.lastTokenUse(token.id);
    if (seen === undefined) return token.lastUsedAt;
    const second = Math.floor(seen / 1000) * 1000;
    return token.lastUsedAt === null || second > token.lastUsedAt ? second : token.lastUsedAt;
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Rate limit, then email and password; the same answer and cost for an unknown email. */
  private async checkLogin(body: v.Body, client: ClientInfo): Promise<{ user: UserWithPassword }> {
    const started = process.hrtime.bigint();
    const errors = new v.FieldErrors();
    const rawEmail = v.requiredString(body, 'email', errors);
    const password = v.requiredString(body, 'password', errors);
    errors.throwIfAny();
    const email = v.normaliseEmail(rawEmail!);
    await this.limitAttempt(email, client.ip);
    try {
      // Over 4096 bytes is never a password we would have accepted: refuse without hashing.
      if (Buffer.byteLength(password!) > LOGIN_MAX_BYTES || email.length > v.MAX_EMAIL_LENGTH) throw invalidCredentials();
      const user = await this.store.findUserByEmail(email);
      const valid = await this.hasher.verify(password!, user?.passwordHash ?? (await this.timingHash()));
      if (!user || !valid) throw invalidCredentials();
      await this.deps.rateLimiter.clear(email, client.ip);
      await this.rehashIfOutdated(user, password!);
      return { user };
    } finally {
      this.deps.metrics.loginSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async limitAttempt(email: string, ip: string): Promise<void> {
    const attempt = await this.deps.rateLimiter.attempt(email, ip);
    if (!attempt.allowed) {
      this.deps.metrics.rateLimited.inc();
      throw tooManyRequests(attempt.retryAfterSeconds);
    }
  }

  private timingHash(): Promise<string> {
    this.dummyHash ??= this.hasher.hash(randomAlphanumeric(20));
    return this.dummyHash;
  }

  /** Warms the unknown-email hash so the first failed login costs what later ones do. */
  async warmUp(): Promise<void> {
    await this.timingHash();
  }

  private async rehashIfOutdated(user: UserWithPassword, password: string): Promise<void> {
    if (!this.hasher.needsRehash(user.passwordHash)) return;
    if (Buffer.byteLength(password) > this.hasher.maxBytes) return; // cannot rehash without truncating
    try {
      await this.store.updatePasswordHash(user.id, await this.hasher.hash(password));
    } catch (error) {
      // The login itself succeeded; the rehash is retried on the next one.
      this.deps.logger.warn({ event: 'rehash_failed', userId: user.id, err: String(error) }, 'Could not upgrade the password hash');
    }
  }

  private async issueToken(user: User, name: string, abilities: string[], lifetimeMinutes: number | null, revokeOthers: boolean): Promise<IssuedToken> {
    const { secret, token } = this.newToken(name, abilities, lifetimeMinutes);
    const { tokenId, revoked } = await this.store.issueToken(user.id, token, { revokeOthers });
    await this.cache.forget(revoked);
    return { plainText: `${tokenId}|${secret}`, tokenId, expiresAt: token.expiresAt, user: publicUser(user) };
  }

  private newToken(name: string, abilities: string[], lifetimeMinutes: number | null): { secret: string; token: NewToken } {
    const secret = newSecret(this.config.tokenPrefix);
    const createdAt = Math.floor(Date.now() / 1000) * 1000; // the database keeps whole seconds
    const configured = this.config.tokenExpirationMinutes;
    const minutes = configured > 0 ? Math.min(configured, lifetimeMinutes ?? configured) : lifetimeMinutes;
    const expiresAt = minutes === null ? null : createdAt + minutes * 60_000;
    return { secret, token: { name, hash: sha256Hex(secret), abilities, createdAt, expiresAt } };
  }

  private newSession(client: ClientInfo): { secret: string; session: NewSession } {
    const secret = randomAlphanumeric(SESSION_SECRET_LENGTH);
    return {
      secret,
      session: {
        hash: sha256Hex(secret),
        ip: client.ip.slice(0, 45),
        userAgent: client.userAgent?.slice(0, 1000) ?? null,
        createdAt: Math.floor(Date.now() / 1000) * 1000,
      },
    };
  }

  private outcome(kind: 'token' | 'session', outcome: ValidationOutcome, timer: ValidationTimer): undefined {
    this.deps.metrics.recordValidation(kind, outcome, timer);
    return undefined;
  }
}

export function publicUser(user: User): User {
  return { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt, emailVerifiedAt: user.emailVerifiedAt };
}

export function hasAbility(ctx: AuthContext, ability: string): boolean {
  return ctx.abilities.includes('*') || ctx.abilities.includes(ability);
}
