// Batches `last_used_at` (tokens) and `last_active_at` (sessions): a validation only records
// the id in memory; a timer writes each used id at most once per interval, one UPDATE per
// batch, and shutdown flushes what is left. Sanctum's UPDATE on every request is the cost
// this avoids.
import type { Logger } from 'pino';
import type { CredentialStore } from './ports.js';

export class ActivityRecorder {
  private pendingTokens = new Set<number>();
  private pendingSessions = new Set<number>();
  /** Latest use seen by this instance (ms), for idle expiry and listings between flushes. */
  private readonly lastSeenTokens = new Map<number, number>();
  private readonly lastSeenSessions = new Map<number, number>();
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
    record(this.pendingTokens, this.lastSeenTokens, id, at);
  }

  session(id: number, at: number): void {
    record(this.pendingSessions, this.lastSeenSessions, id, at);
  }

  lastTokenUse(id: number): number | undefined {
    return this.lastSeenTokens.get(id);
  }

  lastSessionUse(id: number): number | undefined {
    return this.lastSeenSessions.get(id);
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
    for (const map of [this.lastSeenTokens, this.lastSeenSessions]) {
      for (const [id, at] of map) if (now - at > this.forgetAfterMs) map.delete(id);
    }
  }
}

/**
 * Uses within this long of the last one recorded are not recorded again: the columns hold
 * seconds (Laravel's timestamps), and a busy token then costs one map read per request.
 */
const RECORD_GRANULARITY_MS = 1000;

function record(pending: Set<number>, lastSeen: Map<number, number>, id: number, at: number): void {
  const last = lastSeen.get(id);
  if (last !== undefined && at - last < RECORD_GRANULARITY_MS) return;
  pending.add(id);
  lastSeen.set(id, at);
}
