// The abuse limits of docs/api.md §3.7 over the rate limiter's counters: login attempts per
// (account, client IP) and per account across IPs, and registrations per client IP. Each attempt
// is counted before the password is checked or hashed, so parallel requests cannot slip past; an
// attempt that ends in 503 (database down, hashing queue full) is taken back, so an outage never
// leaves accounts rate limited behind it.
import type { RateLimiter } from '../cache/rate-limiter.js';
import type { Config } from '../config.js';
import type { Metrics } from '../observability/metrics.js';
import { AppError, tooManyRequests } from './errors.js';

/**
 * An IP that logged in to an account is exempt from the account's cross-IP limit for this long
 * after its last success: guesses from elsewhere cannot lock the owner out of their usual places.
 */
const KNOWN_IP_MS = 30 * 24 * 3_600_000;

const ACCOUNT_SCOPE = 'login-account';
const KNOWN_IP_SCOPE = 'login-known-ip';
const REGISTER_SCOPE = 'register';

/** A counted attempt: its outcome decides what stays counted. */
export interface CountedAttempt {
  /** The password was right: takes the attempt back, clears the (account, IP) count and remembers the IP for the account. */
  succeeded(): Promise<void>;
  /** The server could not answer (503): takes the attempt back. */
  withdraw(): Promise<void>;
}

export interface AbuseLimitsDeps {
  config: Pick<Config, 'accountLoginRateLimit' | 'registerRateLimit'>;
  rateLimiter: RateLimiter;
  metrics: Pick<Metrics, 'rateLimited'>;
}

export class AbuseLimits {
  constructor(private readonly deps: AbuseLimitsDeps) {}

  /**
   * Counts a login attempt (login, session login, password change) for `accountKey`
   * (UserStore.rateLimitKey) from `ip`; throws 429 over either limit.
   */
  async login(accountKey: string, ip: string): Promise<CountedAttempt> {
    const { rateLimiter, config } = this.deps;
    const pair = `${accountKey}\n${ip}`;
    const [perPair, marks] = await Promise.all([rateLimiter.attempt(accountKey, ip), rateLimiter.count(KNOWN_IP_SCOPE, pair)]);
    this.allow(perPair);
    const known = marks > 0;
    if (!known) this.allow(await rateLimiter.hit(ACCOUNT_SCOPE, accountKey, config.accountLoginRateLimit));
    // Settled once: a 503 after the password was found right (hashing the new one) takes nothing back twice.
    let settled = false;
    return {
      async succeeded() {
        settled = true;
        await rateLimiter.clear(accountKey, ip);
        // Only failures (and attempts still being checked) count against the account.
        if (!known) await rateLimiter.unhit(ACCOUNT_SCOPE, accountKey);
        // Restarted, so that the exemption lasts KNOWN_IP_MS from the latest success.
        await rateLimiter.reset(KNOWN_IP_SCOPE, pair);
        await rateLimiter.hit(KNOWN_IP_SCOPE, pair, Number.POSITIVE_INFINITY, KNOWN_IP_MS);
      },
      async withdraw() {
        if (settled) return;
        settled = true;
        await rateLimiter.uncount(accountKey, ip);
        if (!known) await rateLimiter.unhit(ACCOUNT_SCOPE, accountKey);
      },
    };
  }

  /** Counts a registration from `ip`; throws 429 over REGISTER_RATE_LIMIT. */
  async register(ip: string): Promise<CountedAttempt> {
    const { rateLimiter, config } = this.deps;
    this.allow(await rateLimiter.hit(REGISTER_SCOPE, ip, config.registerRateLimit));
    return {
      succeeded: async () => undefined, // every registration counts, successful or not
      withdraw: () => rateLimiter.unhit(REGISTER_SCOPE, ip),
    };
  }

  private allow(attempt: { allowed: boolean; retryAfterSeconds: number }): void {
    if (attempt.allowed) return;
    this.deps.metrics.rateLimited.inc();
    throw tooManyRequests(attempt.retryAfterSeconds);
  }
}

/** Runs `work` for a counted attempt, taking the attempt back when it ends in 503. */
export async function answering<T>(attempt: CountedAttempt, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError && error.status === 503) await attempt.withdraw();
    throw error;
  }
}
