// Fixed-window attempt counters (docs/api.md §3.7): login, session login and password change per
// (email, IP) and per account, and register per IP. An attempt is counted before the password is
// checked (so parallel guesses cannot slip past the limit); a success clears the (email, IP) count
// and an attempt the server could not answer (503) is taken back. The recovery routes have
// limiters of their own, each counting (key, IP) attempts under its scope (docs/recovery.md).
// Redis counts atomically across instances; without it, or while it is unavailable, each
// instance counts in memory.
import { createHash } from 'node:crypto';
import { normaliseEmail } from '../core/emails.js';

const WINDOW_MS = 60_000;
/** How often expired in-memory counters are dropped. */
const SWEEP_MS = 60_000;

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
  /** Takes one hit back (never below zero). */
  unhit(key: string): Promise<void>;
  /** The current count, without counting. */
  peek(key: string): Promise<number>;
  reset(key: string): Promise<void>;
}

export class RateLimiter {
  private readonly local = new Map<string, { count: number; resetAt: number }>();
  private sweeper: NodeJS.Timeout;

  constructor(
    private readonly limit: number,
    private readonly shared: SharedCounters | undefined,
    /** Names the (key, IP) counters of attempt(), clear() and uncount(). */
    private readonly scope = 'login',
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Counts one attempt for (email, ip); not allowed once the count passes the limit. */
  attempt(email: string, ip: string): Promise<AttemptResult> {
    return this.hit(this.scope, pairKey(email, ip), this.limit);
  }

  /** A success clears the (email, ip) count. */
  clear(email: string, ip: string): Promise<void> {
    return this.reset(this.scope, pairKey(email, ip));
  }

  /** Takes back an attempt that ended without an answer on the password (503). */
  uncount(email: string, ip: string): Promise<void> {
    return this.unhit(this.scope, pairKey(email, ip));
  }

  /** Counts one hit of `key` in `scope`; not allowed once the count passes `limit` in the window. */
  async hit(scope: string, key: string, limit: number, windowMs = WINDOW_MS): Promise<AttemptResult> {
    const stored = storedKey(scope, key);
    const [count, ttlMs] = (await this.ask((shared) => shared.hit(stored, windowMs))) ?? this.localHit(stored, windowMs);
    return { allowed: count <= limit, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
  }

  /** Takes one hit back. */
  async unhit(scope: string, key: string): Promise<void> {
    const stored = storedKey(scope, key);
    const slot = this.local.get(stored);
    if (slot && slot.count > 0) slot.count--;
    await this.ask((shared) => shared.unhit(stored));
  }

  /** The count of `key` in its current window (0 when none), without counting. */
  async count(scope: string, key: string): Promise<number> {
    const stored = storedKey(scope, key);
    const shared = await this.ask((counters) => counters.peek(stored));
    if (shared !== undefined) return shared;
    const slot = this.local.get(stored);
    return slot && slot.resetAt > Date.now() ? slot.count : 0;
  }

  async reset(scope: string, key: string): Promise<void> {
    const stored = storedKey(scope, key);
    this.local.delete(stored);
    await this.ask((shared) => shared.reset(stored));
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Asks the shared counters when they are usable; undefined when not or when they fail. */
  private async ask<T>(operation: (shared: SharedCounters) => Promise<T>): Promise<T | undefined> {
    if (!this.shared?.usable) return undefined;
    try {
      return await operation(this.shared);
    } catch {
      return undefined;
    }
  }

  private localHit(key: string, windowMs: number): [number, number] {
    const now = Date.now();
    let slot = this.local.get(key);
    if (!slot || slot.resetAt <= now) {
      slot = { count: 0, resetAt: now + windowMs };
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

function pairKey(email: string, ip: string): string {
  return `${normaliseEmail(email)}\n${ip}`;
}

/** Hashed so that no address or email is readable in Redis and no byte of it is special. */
function storedKey(scope: string, key: string): string {
  return `rl:${createHash('sha256').update(`${scope}\n${key}`).digest('hex')}`;
}
