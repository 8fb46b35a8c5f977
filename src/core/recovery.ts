// Forgot and reset password (docs/recovery.md), on Laravel's password_reset_tokens: the token
// is 64 hex characters (what Laravel's broker makes), stored hashed with the password hasher,
// good for PASSWORD_RESET_EXPIRE minutes, one mail per PASSWORD_RESET_THROTTLE seconds. A reset
// sets the password and spends the row in one transaction, then revokes every credential of the
// user through the injected revokeUser (the credentials module's revocation rule).
import { randomBytes } from 'node:crypto';
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { RecoveryConfig } from '../config.js';
import type { RecoveryStore } from '../store/recovery-store.js';
import { invalidResetToken, tooManyRequests } from './errors.js';
import type { PasswordHasher } from './passwords.js';
import type { Store } from './store.js';
import * as v from './validation.js';

/** Laravel's broker token: hash_hmac('sha256', Str::random(40), key), so 64 lower-case hex. */
const RESET_TOKEN = /^[0-9a-f]{64}$/;

export interface RecoveryLimits {
  /** Requests per minute per (email, client IP). */
  perAddress: RateLimiter;
  /** Requests per minute per client IP, whatever the email. */
  perIp: RateLimiter;
}

export interface PasswordRecoveryDeps {
  config: RecoveryConfig;
  passwordMinLength: number;
  store: Pick<Store, 'findUserByEmail'>;
  recovery: RecoveryStore;
  hasher: PasswordHasher;
  limits: RecoveryLimits;
  /** Revokes every token and session of the user in the database and in every cache. */
  revokeUser: (userId: number) => Promise<void>;
  /** A mail was recorded: send it now rather than at the next poll. */
  mailQueued: () => void;
}

export class PasswordRecovery {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: PasswordRecoveryDeps) {}

  /**
   * Records a reset row and its mail when the account exists and no mail went to it within
   * PASSWORD_RESET_THROTTLE. Known and unknown emails cost the same: a token is hashed and the
   * reset table read either way, and the caller answers the same.
   */
  async forgotPassword(body: v.Body, ip: string): Promise<void> {
    const errors = new v.FieldErrors();
    v.onlyFields(body, ['email'], errors);
    const email = v.email(body, errors);
    errors.throwIfAny();
    await this.limit(email!, ip);

    const token = randomBytes(32).toString('hex');
    const tokenHash = await this.deps.hasher.hash(token);
    const user = await this.deps.store.findUserByEmail(email!);
    // Laravel's broker keys the row by the email as stored.
    const row = await this.deps.recovery.findResetRow(user?.email ?? email!);
    const now = Date.now();
    if (!user) return;
    if (row?.createdAt != null && row.createdAt + this.deps.config.passwordResetThrottleSeconds * 1000 > now) return;
    const link = `${this.deps.config.appUrl}/account#reset?${new URLSearchParams({ token, email: user.email })}`;
    await this.deps.recovery.replaceResetRow(user.email, tokenHash, now, {
      template: 'password-reset',
      to: user.email,
      values: { link, email: user.email, greeting_name: user.name ? ` ${user.name}` : '', expire_minutes: String(this.deps.config.passwordResetExpireMinutes) },
    });
    this.deps.mailQueued();
  }

  /** Sets the password from a reset link; wrong, used or expired links are invalid_reset_token. */
  async resetPassword(body: v.Body, ip: string): Promise<void> {
    const errors = new v.FieldErrors();
    v.onlyFields(body, ['email', 'token', 'password'], errors);
    const email = v.email(body, errors);
    const token = v.requiredString(body, 'token', errors);
    const password = v.newPassword(body, 'password', errors, this.deps.passwordMinLength, this.deps.hasher.maxBytes);
    errors.throwIfAny();
    await this.hit(this.deps.limits.perIp, '', ip);
    if (!RESET_TOKEN.test(token!)) throw invalidResetToken();

    const user = await this.deps.store.findUserByEmail(email!);
    const row = user && (await this.deps.recovery.findResetRow(user.email));
    const fresh = row?.createdAt != null && row.createdAt + this.deps.config.passwordResetExpireMinutes * 60_000 > Date.now();
    // An unknown email or missing row costs a hash check too, as a wrong token does.
    const matches = await this.deps.hasher.verify(token!, row?.tokenHash ?? (await this.timingHash()));
    if (!user || !row || !fresh || !matches) throw invalidResetToken();

    const passwordHash = await this.deps.hasher.hash(password!);
    if (!(await this.deps.recovery.spendResetRow(user.id, row, passwordHash))) throw invalidResetToken();
    await this.deps.revokeUser(user.id);
  }

  private async limit(email: string, ip: string): Promise<void> {
    await this.hit(this.deps.limits.perAddress, email, ip);
    await this.hit(this.deps.limits.perIp, '', ip);
  }

  private async hit(limiter: RateLimiter, key: string, ip: string): Promise<void> {
    const attempt = await limiter.attempt(key, ip);
    if (!attempt.allowed) throw tooManyRequests(attempt.retryAfterSeconds);
  }

  private timingHash(): Promise<string> {
    this.dummyHash ??= this.deps.hasher.hash(randomBytes(32).toString('hex'));
    return this.dummyHash;
  }
}
