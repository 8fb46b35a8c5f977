// Fixed-window attempt counters for login, session login and password change (docs/api.md §3),
// and, each under a scope of its own, for the recovery routes (docs/recovery.md).
// An attempt is counted before the password is checked (so parallel guesses cannot slip past
// the limit) and the count is cleared by a success. Redis counts atomically across instances;
// without it, or while it is unavailable, each instance counts in memory.
import { createHash } from 'node:crypto';
import { normaliseEmail } from '../core/emails.js';

const WINDOW_MS = 60_000;

export interface AttemptResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

/** Counters shared by every instance (the Redis tier implements them). */
export interface SharedCounters {
  /** Connected and answering: worth asking. */
  readonly usable: boolean;
  /** Counts one hit in a fixed window that starts with the first; returns [count, ms left]. */
  hit(key: string, windowMs: number): Promise<[number, number]>;
  reset(key: string): Promise<void>;
}

export class RateLimiter {
  private readonly local = new Map<string, { count: number; resetAt: number }>();
  private sweeper: NodeJS.Timeout;

  constructor(
    private readonly limit: number,
    private readonly shared: SharedCounters | undefined,
    /** Names the counters of one use; login's (no scope) keep their original keys. */
    private readonly scope = '',
  ) {
    this.sweeper = setInterval(() => this.sweep(), WINDOW_MS);
    this.sweeper.unref();
  }

  /** Counts one attempt for (email, ip); not allowed once the count passes the limit. */
  async attempt(email: string, ip: string): Promise<AttemptResult> {
    const key = this.key(email, ip);
    const shared = await this.sharedHit(key);
    const [count, ttlMs] = shared ?? this.localHit(key);
    return { allowed: count <= this.limit, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
  }

  /** A success clears the count. */
  async clear(email: string, ip: string): Promise<void> {
    const key = this.key(email, ip);
    this.local.delete(key);
    if (this.shared?.usable) await this.shared.reset(key).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private key(email: string, ip: string): string {
    // Hashed so that no address or email is readable in Redis and no byte of it is special.
    return `rl:${this.scope && `${this.scope}:`}${createHash('sha256').update(`${normaliseEmail(email)}\n${ip}`).digest('hex')}`;
  }

  private async sharedHit(key: string): Promise<[number, number] | undefined> {
    if (!this.shared?.usable) return undefined;
    try {
      return await this.shared.hit(key, WINDOW_MS);
    } catch {
      return undefined;
    }
  }

  private localHit(key: string): [number, number] {
    const now = Date.now();
    let slot = this.local.get(key);
    if (!slot || slot.resetAt <= now) {
      slot = { count: 0, resetAt: now + WINDOW_MS };
      this.local.set(key, slot);
    }
    slot.count++;
    return [slot.count, slot.resetAt - now];
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, slot] of this.local) if (slot.resetAt <= now) this.local.delete(key);
  }
}
