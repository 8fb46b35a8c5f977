// Batches `last_used_at` (tokens) and `last_active_at` (sessions): a validation only records
// the id in memory; a timer writes each used id at most once per interval, one UPDATE per
// batch, and shutdown flushes what is left. Sanctum's UPDATE on every request is the cost
// this avoids.
import type { Logger } from 'pino';
import type { CredentialStore } from './ports.js';

export class ActivityRecorder {
  private pendingTokens = new Set<number>();
  private pendingSessions = new Set<number>();
  /**
   * Latest use seen by this instance, for idle expiry and listings between flushes: whole seconds
   * (what the columns hold) counted from `origin`, not ms since 1970. A small integer is stored in
   * the Map itself, whereas each ms timestamp was a heap number of its own. With far more tokens
   * than requests per second (a million used at random) every validation records one, and it
   * lives until that token's next use, so each was promoted and then left as old-generation
   * garbage: more scavenge and mark-compact work per request the larger the heap.
   */
  private readonly lastSeenTokens = new Map<number, number>();
  private readonly lastSeenSessions = new Map<number, number>();
  private readonly origin = Math.floor(Date.now() / 1000);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Pick<CredentialStore, 'touch'>,
    private readonly intervalMs: number,
    private readonly forgetAfterMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  token(id: number, at: number): void {
    record(this.pendingTokens, this.lastSeenTokens, id, this.second(at));
  }

  session(id: number, at: number): void {
    record(this.pendingSessions, this.lastSeenSessions, id, this.second(at));
  }

  /** The latest use seen here (ms, a whole second), if any. */
  lastTokenUse(id: number): number | undefined {
    return this.ms(this.lastSeenTokens.get(id));
  }

  lastSessionUse(id: number): number | undefined {
    return this.ms(this.lastSeenSessions.get(id));
  }

  private second(at: number): number {
    return Math.floor(at / 1000) - this.origin;
  }

  private ms(second: number | undefined): number | undefined {
    return second === undefined ? undefined : (second + this.origin) * 1000;
  }

  /** Writes every pending id; on failure they stay pending for the next flush. */
  async flush(): Promise<void> {
    const tokens = this.pendingTokens;
    const sessions = this.pendingSessions;
    this.pendingTokens = new Set();
    this.pendingSessions = new Set();
    const at = Date.now();
    try {
      if (tokens.size > 0) await this.store.touch('tokens', [...tokens], at);
      if (sessions.size > 0) await this.store.touch('sessions', [...sessions], at);
    } catch (error) {
      for (const id of tokens) this.pendingTokens.add(id);
      for (const id of sessions) this.pendingSessions.add(id);
      this.logger.warn({ event: 'activity_flush_failed', err: String(error) }, 'Could not write last_used_at; will retry');
      throw error;
    }
    this.sweep(at);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }

  private sweep(now: number): void {
    const before = this.second(now - this.forgetAfterMs);
    for (const map of [this.lastSeenTokens, this.lastSeenSessions]) {
      for (const [id, second] of map) if (second < before) map.delete(id);
    }
  }
}

/**
 * A use in the second already recorded (or an earlier one, from a request that started before
 * it) is not recorded again: the columns hold seconds (Laravel's timestamps), a busy token then
 * costs one map read per request, and the last use seen never moves backwards.
 */
function record(pending: Set<number>, lastSeen: Map<number, number>, id: number, second: number): void {
  const last = lastSeen.get(id);
  if (last !== undefined && second <= last) return;
  pending.add(id);
  lastSeen.set(id, second);
}
