// Forgot and reset password (docs/recovery.md), on Laravel's password_reset_tokens: the token
// is 64 hex characters (what Laravel's broker makes), stored hashed with the password hasher,
// good for PASSWORD_RESET_EXPIRE minutes, one mail per PASSWORD_RESET_THROTTLE seconds. A reset
// goes through the credentials module (Credentials.resetPassword): the password set, the row
// spent and every credential of the user deleted in one transaction, then forgotten everywhere.
// Inputs arrive checked against their route's schema (http/routes/recovery.ts).
import { randomBytes } from 'node:crypto';
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { RecoveryConfig } from '../config.js';
import type { RecoveryStore } from '../store/recovery-store.js';
import type { Credentials } from './credentials.js';
import { invalidResetToken, ResetLinkSpentError, tooManyRequests } from './errors.js';
import type { PasswordHasher } from './passwords.js';
import type { UserStore } from './ports.js';
import * as v from './validation.js';

/** Laravel's broker token: hash_hmac('sha256', Str::random(40), key), so 64 lower-case hex. */
const RESET_TOKEN = /^[0-9a-f]{64}$/;

export interface ForgotPassword {
  email: string;
}

export interface ResetPassword {
  email: string;
  /** From the mail's link. */
  token: string;
  password: string;
}

export interface RecoveryLimits {
  /** Requests per minute per (email, client IP). */
  perAddress: RateLimiter;
  /** Requests per minute per client IP, whatever the email. */
  perIp: RateLimiter;
}

export interface PasswordRecoveryDeps {
  config: RecoveryConfig;
  passwordMinLength: number;
  users: Pick<UserStore, 'findByEmail'>;
  recovery: RecoveryStore;
  hasher: PasswordHasher;
  limits: RecoveryLimits;
  /** The one owner of revocation: the reset's transaction and the forgetting that follows. */
  credentials: Pick<Credentials, 'resetPassword'>;
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
  async forgotPassword(input: ForgotPassword, ip: string): Promise<void> {
    const errors = new v.FieldErrors();
    const email = v.checkEmail(input.email, errors);
    errors.throwIfAny();
    await this.limit(email, ip);

    const token = randomBytes(32).toString('hex');
    const tokenHash = await this.deps.hasher.hash(token);
    const user = await this.deps.users.findByEmail(email);
    // Laravel's broker keys the row by the email as stored.
    const row = await this.deps.recovery.findResetRow(user?.email ?? email);
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
  async resetPassword(input: ResetPassword, ip: string): Promise<void> {
    const errors = new v.FieldErrors();
    const email = v.checkEmail(input.email, errors);
    v.checkNewPassword(input.password, errors, this.deps.passwordMinLength, this.deps.hasher.maxBytes);
    errors.throwIfAny();
    await this.hit(this.deps.limits.perIp, '', ip);
    // A token of another shape is a wrong link, answered as one (not a validation error).
    if (!RESET_TOKEN.test(input.token)) throw invalidResetToken();

    const user = await this.deps.users.findByEmail(email);
    const row = user && (await this.deps.recovery.findResetRow(user.email));
    const fresh = row?.createdAt != null && row.createdAt + this.deps.config.passwordResetExpireMinutes * 60_000 > Date.now();
    // An unknown email or missing row costs a hash check too, as a wrong token does.
    const matches = await this.deps.hasher.verify(input.token, row?.tokenHash ?? (await this.timingHash()));
    if (!user || !row || !fresh || !matches) throw invalidResetToken();

    const passwordHash = await this.deps.hasher.hash(input.password);
    try {
      await this.deps.credentials.resetPassword(user.id, passwordHash, { email: row.email, tokenHash: row.tokenHash });
    } catch (error) {
      if (error instanceof ResetLinkSpentError) throw invalidResetToken();
      throw error;
    }
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
