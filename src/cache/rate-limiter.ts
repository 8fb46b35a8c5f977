// Fixed-window attempt counters for login, session login and password change (API.md §3), and,
// each under a scope of its own, for the recovery routes (docs/recovery.md).
// An attempt is counted before the password is checked (so parallel guesses cannot slip past
// the limit) and the count is cleared by a success. Redis counts atomically across instances;
// without it, or while it is unavailable, each instance counts in memory.
import { createHash } from 'node:crypto';
import type { RedisTier } from './redis-tier.js';

const WINDOW_MS = 60_000;

export interface AttemptResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

export class RateLimiter {
  private readonly local = new Map<string, { count: number; resetAt: number }>();
  private sweeper: NodeJS.Timeout;

  constructor(
    private readonly limit: number,
    private readonly redis: RedisTier | undefined,
    /** Names the counters of one use; login's (no scope) keep their original keys. */
    private readonly scope = '',
  ) {
    this.redis?.client.defineCommand('latchkeyHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
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
    if (this.redis?.usable) await this.redis.client.del(this.redis.prefix + key).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private key(email: string, ip: string): string {
    // Hashed so that no address or email is readable in Redis and no byte of it is special.
    return `rl:${this.scope && `${this.scope}:`}${createHash('sha256').update(`${email.trim().toLowerCase()}\n${ip}`).digest('hex')}`;
  }

  private async sharedHit(key: string): Promise<[number, number] | undefined> {
    if (!this.redis?.usable) return undefined;
    try {
      const client = this.redis.client as unknown as { latchkeyHit(key: string, windowMs: number): Promise<[number, number]> };
      const [count, ttl] = await client.latchkeyHit(this.redis.prefix + key, WINDOW_MS);
      return [Number(count), Number(ttl)];
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
