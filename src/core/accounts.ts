// The account rules, free of HTTP: register, login (bearer and cookie), password change, the
// login rate limit, and what a signed-in user may do with their own tokens and sessions. Every
// credential is issued, listed and revoked through the credentials module; nothing here
// touches a cache.
import type { Logger } from 'pino';
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { Config } from '../config.js';
import type { Metrics } from '../observability/metrics.js';
import { AbuseLimits, answering } from './abuse-limits.js';
import { normaliseEmail } from './emails.js';
import { EmailTakenError, emailTaken, invalidCredentials, notFound, unauthenticated } from './errors.js';
import { publicUser, type ClientInfo, type Credentials, type IssuedSession, type IssuedToken } from './credentials.js';
import { LOGIN_MAX_BYTES, type PasswordHasher } from './passwords.js';
import type { OutgoingMail, UserStore } from './ports.js';
import { randomAlphanumeric } from './token-format.js';
import type { AuthContext, SessionRecord, TokenRecord, User, UserWithPassword } from './types.js';
import * as v from './validation.js';

const DEFAULT_TOKEN_NAME = 'auth_token';
/** The abilities of a token created without any: all of them. */
export const ALL_ABILITIES: readonly string[] = ['*'];

/**
 * The fields of a new account, shared by register's body schema (http/routes/account.ts) and the
 * CLI's user:create, so both follow the same rules.
 */
export const NEW_ACCOUNT_FIELDS = {
  email: { ...v.requiredString(v.MAX_EMAIL_LENGTH), description: 'an email address; stored trimmed and lower-cased, compared case-insensitively' },
  password: { ...v.requiredString(), description: 'PASSWORD_MIN_LENGTH characters (8 by default) and at most 72 bytes of UTF-8 with bcrypt, 1024 with argon2id' },
  name: v.optionalString(v.MAX_NAME_LENGTH),
} as const;
const NEW_ACCOUNT_SCHEMA = v.objectSchema(NEW_ACCOUNT_FIELDS, ['email', 'password']);

export interface NewAccount {
  email: string;
  password: string;
  name?: string | null;
}

export interface Registration extends NewAccount {
  /** Names the first token. */
  deviceName?: string | null;
}

export interface Login {
  email: string;
  password: string;
  deviceName?: string | null;
}

export interface PasswordChange {
  currentPassword: string;
  password: string;
}

export interface NewToken {
  name: string;
  /** Absent or null: ALL_ABILITIES. */
  abilities?: readonly string[] | null;
  expiresInMinutes?: number | null;
}

export interface AccountsDeps {
  config: Config;
  users: UserStore;
  credentials: Credentials;
  hasher: PasswordHasher;
  rateLimiter: RateLimiter;
  metrics: Metrics;
  logger: Logger;
  /** The mail recorded with every new user (verification), and what to do once it is committed. */
  onRegistered?: { mail: (user: User) => OutgoingMail; committed: () => void };
}

export class Accounts {
  private readonly credentials: Credentials;
  private readonly limits: AbuseLimits;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: AccountsDeps) {
    this.credentials = deps.credentials;
    this.limits = new AbuseLimits(deps);
  }

  // ---- accounts ----------------------------------------------------------------------------
  // Inputs arrive checked against their route's schema (http/routes); only what JSON Schema cannot
  // say is checked here (./validation.ts).

  /** `client` is the HTTP caller, limited per IP; callers inside the process (a benchmark's setup) pass none. */
  async register(input: Registration, client?: ClientInfo): Promise<IssuedToken> {
    const newUser = await this.newUser(input, client);
    const spec = { name: input.deviceName || DEFAULT_TOKEN_NAME, abilities: ['*'], lifetimeMinutes: null };
    const issued = await this.taken(this.credentials.issueForNewUser(newUser, spec, this.deps.onRegistered?.mail));
    this.deps.onRegistered?.committed();
    return issued;
  }

  /** An account without a token (the CLI's user:create, which has no route: its fields are checked here). */
  async createUser(input: NewAccount): Promise<User> {
    v.validateInput(NEW_ACCOUNT_SCHEMA, input);
    const { user } = await this.taken(this.deps.users.create(await this.newUser(input), null, this.deps.onRegistered?.mail));
    this.deps.onRegistered?.committed();
    return user;
  }

  /** Checks the email and the password of a new account and hashes the password. */
  private async newUser(input: NewAccount, client?: ClientInfo) {
    const errors = new v.FieldErrors();
    const email = v.checkEmail(input.email, errors);
    v.checkNewPassword(input.password, errors, this.deps.config.passwordMinLength, this.deps.hasher.maxBytes);
    errors.throwIfAny();
    this.deps.hasher.assertCapacity();
    const hashing = async () => {
      if (await this.deps.users.findByEmail(email)) throw emailTaken();
      return this.deps.hasher.hash(input.password);
    };
    // Counted before the hash; a 503 (database down, hashing queue full) is taken back.
    const passwordHash = client ? await answering(await this.limits.register(client.ip), hashing) : await hashing();
    return { name: input.name ?? null, email, passwordHash };
  }

  /** The unique index decides a race between two registrations of one email. */
  private async taken<T>(creating: Promise<T>): Promise<T> {
    try {
      return await creating;
    } catch (error) {
      if (error instanceof EmailTakenError) throw emailTaken();
      throw error;
    }
  }

  async login(input: Login, client: ClientInfo): Promise<IssuedToken> {
    const user = await this.checkLogin(input, client);
    return this.credentials.issueToken(
      user,
      { name: input.deviceName || DEFAULT_TOKEN_NAME, abilities: ['*'], lifetimeMinutes: null },
      { revokeOthers: this.deps.config.loginRevokesOtherTokens },
    );
  }

  /** Session login: the same checks as login, and a session instead of a token. */
  async loginSession(input: Login, client: ClientInfo, replacing?: string): Promise<IssuedSession> {
    const user = await this.checkLogin(input, client);
    return this.credentials.issueSession(user, client, { revokeOthers: this.deps.config.loginRevokesOtherTokens, replacing });
  }

  async changePassword(ctx: AuthContext, input: PasswordChange, client: ClientInfo): Promise<{ token: IssuedToken; session: IssuedSession | null }> {
    const { currentPassword: current, password } = input;
    const errors = new v.FieldErrors();
    v.checkNewPassword(password, errors, this.deps.config.passwordMinLength, this.deps.hasher.maxBytes);
    errors.throwIfAny();

    const user = await this.deps.users.findById(ctx.user.id);
    if (!user) throw unauthenticated();
    this.deps.hasher.assertCapacity();
    const attempt = await this.limits.login(await this.deps.users.rateLimitKey(user.email), client.ip);
    const passwordHash = await answering(attempt, async () => {
      if (Buffer.byteLength(current) > LOGIN_MAX_BYTES || !(await this.deps.hasher.verify(current, user.passwordHash))) {
        throw v.validationFailedFor('current_password', 'is incorrect');
      }
      await attempt.succeeded();
      return this.deps.hasher.hash(password);
    });
    return this.credentials.replaceAll(user, passwordHash, { tokenName: ctx.token?.name ?? DEFAULT_TOKEN_NAME, sessionFor: ctx.session ? client : undefined });
  }

  // ---- tokens and sessions of the signed-in user -------------------------------------------

  async logout(ctx: AuthContext): Promise<void> {
    if (ctx.token) await this.credentials.revoke({ token: ctx.token.id, userId: ctx.user.id });
    else if (ctx.session) await this.endSession(ctx, ctx.session.id);
  }

  listTokens(ctx: AuthContext): Promise<TokenRecord[]> {
    return this.credentials.listTokens(ctx.user.id);
  }

  async createToken(ctx: AuthContext, input: NewToken): Promise<IssuedToken> {
    const abilities = input.abilities ? [...new Set(input.abilities)] : [...ALL_ABILITIES];
    return this.credentials.issueToken(ctx.user, { name: input.name, abilities, lifetimeMinutes: input.expiresInMinutes ?? null }, { revokeOthers: false });
  }

  async deleteToken(ctx: AuthContext, tokenId: number): Promise<void> {
    const { tokens } = await this.credentials.revoke({ token: tokenId, userId: ctx.user.id });
    if (tokens === 0) throw notFound('No such token.');
  }

  listSessions(ctx: AuthContext): Promise<SessionRecord[]> {
    return this.credentials.listSessions(ctx.user.id);
  }

  async endSession(ctx: AuthContext, sessionId: number): Promise<void> {
    const { sessions } = await this.credentials.revoke({ session: sessionId, userId: ctx.user.id });
    if (sessions === 0) throw notFound('No such session.');
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Rate limit, then email and password; the same answer and cost for an unknown email. */
  private async checkLogin(input: Login, client: ClientInfo): Promise<User> {
    const started = process.hrtime.bigint();
    const { password } = input;
    const email = normaliseEmail(input.email);
    this.deps.hasher.assertCapacity(); // a flood the hashing bound turns away costs no query or counter
    const attempt = await this.limits.login(await this.deps.users.rateLimitKey(email), client.ip);
    try {
      return await answering(attempt, async () => {
        // Over 4096 bytes is never a password we would have accepted: refuse without hashing.
        if (Buffer.byteLength(password) > LOGIN_MAX_BYTES || email.length > v.MAX_EMAIL_LENGTH) throw invalidCredentials();
        const user = await this.deps.users.findByEmail(email);
        const valid = await this.deps.hasher.verify(password, user?.passwordHash ?? (await this.timingHash()));
        if (!user || !valid) throw invalidCredentials();
        await attempt.succeeded();
        await this.rehashIfOutdated(user, password);
        return publicUser(user);
      });
    } finally {
      this.deps.metrics.loginSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private timingHash(): Promise<string> {
    // Forgotten when it fails (hashing queue full), so that a later login hashes it again.
    this.dummyHash ??= this.deps.hasher.hash(randomAlphanumeric(20)).catch((error: unknown) => {
      this.dummyHash = undefined;
      throw error;
    });
    return this.dummyHash;
  }

  /** Warms the unknown-email hash so the first failed login costs what later ones do. */
  async warmUp(): Promise<void> {
    await this.timingHash();
  }

  private async rehashIfOutdated(user: UserWithPassword, password: string): Promise<void> {
    if (!this.deps.hasher.needsRehash(user.passwordHash)) return;
    if (Buffer.byteLength(password) > this.deps.hasher.maxBytes) return; // cannot rehash without truncating
    try {
      await this.deps.users.setPasswordHash(user.id, await this.deps.hasher.hash(password));
    } catch (error) {
      // The login itself succeeded; the rehash is retried on the next one.
      this.deps.logger.warn({ event: 'rehash_failed', userId: user.id, err: String(error) }, 'Could not upgrade the password hash');
    }
  }
}
