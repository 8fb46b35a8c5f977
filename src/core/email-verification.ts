// Email verification with Laravel's signed URLs (docs/recovery.md): the link is
// {APP_URL}/api/auth/email/verify/{id}/{sha1(email)}?expires={unix}&signature={hex}, where the
// signature is the HMAC-SHA256 of the URL before `&signature`, keyed with the APP_KEY string
// exactly as configured, as Laravel's URL::temporarySignedRoute and hasValidSignature do. A
// link signed by a Laravel app with the same APP_KEY verifies here, and one of ours there.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { RecoveryConfig } from '../config.js';
import type { QueuedMail } from '../mail/outbox.js';
import type { TemplateValues } from '../mail/templates.js';
import type { RecoveryStore } from '../store/recovery-store.js';
import { invalidSignature, tooManyRequests } from './errors.js';
import type { UserStore } from './ports.js';
import type { User } from './types.js';

/** Laravel's auth.verification.expire default. */
export const VERIFICATION_LINK_MINUTES = 60;
export const VERIFY_PATH = '/api/auth/email/verify';

/** What the verification route was asked: the URL as requested, split as Laravel reads it. */
export interface SignedRequest {
  /** scheme://host[:port]/path, without the query. */
  url: string;
  /** The raw query string (without `?`). */
  query: string;
  id: string;
  hash: string;
}

/** How long an "is this user verified now?" answer from the database is reused. */
const STATE_MEMO_MS = 1000;
const STATE_MEMO_LIMIT = 10_000;

export class EmailVerification {
  /** Answers read from the database by verifiedAt(), for STATE_MEMO_MS. */
  private readonly memo = new Map<number, { verifiedAt: number | null; until: number }>();
  /** Users who followed a link on this instance, for as long as cached entries may predate it. */
  private readonly verifiedHere = new Map<number, { verifiedAt: number; until: number }>();
  private key: Promise<string> | undefined;

  constructor(
    private readonly config: RecoveryConfig,
    /** CACHE_TTL in ms: how long a cached credential may still show the user as unverified. */
    private readonly cacheTtlMs: number,
    /** The APP_KEY string, as configured or as kept in the database (read at first use). */
    private readonly appKey: () => Promise<string>,
    private readonly users: Pick<UserStore, 'findById'>,
    private readonly recovery: RecoveryStore,
    private readonly resendLimit: RateLimiter,
    private readonly mailQueued: () => void,
  ) {}

  /** The signed link for a user, expiring in VERIFICATION_LINK_MINUTES. */
  async link(user: Pick<User, 'id' | 'email'>, now = Date.now()): Promise<string> {
    const expires = Math.floor(now / 1000) + VERIFICATION_LINK_MINUTES * 60;
    const unsigned = `${this.config.appUrl}${VERIFY_PATH}/${user.id}/${sha1(user.email)}?expires=${expires}`;
    return `${unsigned}&signature=${await this.sign(unsigned)}`;
  }

  /**
   * The outbox row of a verification mail (registration writes it with the user). The link is
   * signed when the mail is sent (withLink), so the row holds no secret.
   */
  mail(user: Pick<User, 'id' | 'email' | 'name'>): QueuedMail {
    return {
      template: 'verify-email',
      to: user.email,
      values: { user_id: String(user.id), email: user.email, greeting_name: user.name ? ` ${user.name}` : '', expire_minutes: String(VERIFICATION_LINK_MINUTES) },
    };
  }

  /** A verification mail's values with its signed link (the outbox's `complete`). */
  async withLink(values: TemplateValues): Promise<TemplateValues> {
    return { ...values, link: await this.link({ id: Number(values.user_id), email: values.email ?? '' }) };
  }

  /** Checks the signature, the expiry and the email's hash; sets email_verified_at. */
  async verify(request: SignedRequest): Promise<void> {
    const params = request.query.split('&');
    const signature = new URLSearchParams(params.find((p) => p.startsWith('signature=')) ?? '').get('signature') ?? '';
    // Laravel signs the URL with the query as sent, less its signature parameter.
    const rest = params.filter((p) => p !== '' && p.split('=')[0] !== 'signature').join('&');
    const original = rest === '' ? request.url : `${request.url}?${rest}`;
    if (!/^[0-9a-f]{64}$/.test(signature) || !timingSafeEqual(Buffer.from(signature), Buffer.from(await this.sign(original)))) throw invalidSignature();
    const expires = new URLSearchParams(rest).get('expires');
    if (expires === null || !/^\d{1,12}$/.test(expires) || Math.floor(Date.now() / 1000) > Number(expires)) throw invalidSignature();

    const id = /^[1-9]\d{0,15}$/.test(request.id) ? Number(request.id) : NaN;
    const user = Number.isSafeInteger(id) ? await this.users.findById(id) : undefined;
    // The email may have changed since the link was made: then the link is not for it.
    if (!user || !/^[0-9a-f]{40}$/.test(request.hash) || !timingSafeEqual(Buffer.from(request.hash), Buffer.from(sha1(user.email)))) throw invalidSignature();
    const verifiedAt = await this.recovery.markEmailVerified(user.id, Date.now());
    if (verifiedAt !== null) {
      if (this.verifiedHere.size >= STATE_MEMO_LIMIT) this.verifiedHere.clear();
      this.verifiedHere.set(user.id, { verifiedAt, until: Date.now() + this.cacheTtlMs });
    }
  }

  /** Sends a new link unless the email is verified; at most a few per user per minute. */
  async resend(user: User): Promise<void> {
    const attempt = await this.resendLimit.attempt(String(user.id), '');
    if (!attempt.allowed) throw tooManyRequests(attempt.retryAfterSeconds);
    if ((await this.verifiedAt(user)) !== null) return;
    await this.recovery.enqueue(this.mail(user));
    this.mailQueued();
  }

  /**
   * When the user verified, as far as this instance knows without a query: the cached record's
   * value, or that of a link followed here since the record was cached (for /me).
   */
  knownVerifiedAt(user: User): number | null {
    if (user.emailVerifiedAt !== null) return user.emailVerifiedAt;
    const here = this.verifiedHere.get(user.id);
    return here && here.until > Date.now() ? here.verifiedAt : null;
  }

  /** The user with a verification made on this instance since the copy was cached (for /me); the same object when there is none. */
  withKnownVerification(user: User): User {
    if (user.emailVerifiedAt !== null) return user;
    const emailVerifiedAt = this.knownVerifiedAt(user);
    return emailVerifiedAt === null ? user : { ...user, emailVerifiedAt };
  }

  /**
   * When the user verified, for REQUIRE_VERIFIED_EMAIL: as knownVerifiedAt, else the database's
   * (a credential cached before a link was followed on another instance must count at once).
   * Read at most once a second per user per instance, and only for users not yet verified.
   */
  async verifiedAt(user: User): Promise<number | null> {
    const local = this.knownVerifiedAt(user);
    if (local !== null) return local;
    const known = this.memo.get(user.id);
    if (known && known.until > Date.now()) return known.verifiedAt;
    const verifiedAt = await this.recovery.emailVerifiedAt(user.id);
    this.remember(user.id, verifiedAt);
    return verifiedAt;
  }

  private remember(userId: number, verifiedAt: number | null): void {
    if (this.memo.size >= STATE_MEMO_LIMIT) this.memo.clear();
    this.memo.set(userId, { verifiedAt, until: Date.now() + STATE_MEMO_MS });
  }

  private async sign(url: string): Promise<string> {
    this.key ??= this.appKey().catch((error: unknown) => {
      this.key = undefined; // not kept: the next link tries again
      throw error;
    });
    return createHmac('sha256', await this.key).update(url).digest('hex');
  }
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
