// Prometheus metrics (prom-client). One registry per app instance so that several instances
// in one test process keep separate counts. No label ever holds a credential, an email or an
// address: labels are fixed words (kind, outcome, tier, table).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type CacheTier = 'memory' | 'redis' | 'database';
export type CredentialKind = 'token' | 'session';
/** A start time from performance.now(), or undefined when this validation is not timed. */
export type ValidationTimer = number | undefined;

/**
 * One validation in this many is timed. Reading the clock twice and observing costs about
 * 0.4 µs, a noticeable share of a warm validation; a sample keeps the quantiles for a fraction.
 */
export const VALIDATION_TIMING_SAMPLE = 16;

export type ValidationOutcome = 'valid' | 'malformed' | 'unknown' | 'expired';

export class Metrics {
  readonly registry = new Registry();

  // The per-request counts are plain numbers, handed to prom-client when /metrics is scraped: a
  // labelled prom-client counter hashes its labels on every increment, and these run on every
  // request.
  private readonly lookupCounts: Record<CacheTier, number> = { memory: 0, redis: 0, database: 0 };
  private readonly validationCounts: Record<CredentialKind, Record<ValidationOutcome, number>> = {
    token: { valid: 0, malformed: 0, unknown: 0, expired: 0 },
    session: { valid: 0, malformed: 0, unknown: 0, expired: 0 },
  };

  readonly validations = publishedCounter(this.registry, {
    name: 'latchkey_validations_total',
    help: 'Credential validations by kind and outcome',
    labelNames: ['kind', 'outcome'],
    values: () =>
      Object.entries(this.validationCounts).flatMap(([kind, outcomes]) => Object.entries(outcomes).map(([outcome, count]) => ({ labels: { kind, outcome }, count }))),
  });
  readonly cacheLookups = publishedCounter(this.registry, {
    name: 'latchkey_cache_lookups_total',
    help: 'Where a validated credential was found: memory (in-process tier), redis, or database (a miss of both tiers)',
    labelNames: ['tier'],
    values: () => Object.entries(this.lookupCounts).map(([tier, count]) => ({ labels: { tier }, count })),
  });
  readonly fallbacks = new Counter({
    name: 'latchkey_cache_fallbacks_total',
    help: 'Operations that went to the database because Redis was unavailable or failed',
    registers: [this.registry],
  });
  readonly refreshes = new Counter({
    name: 'latchkey_cache_refreshes_total',
    help: 'Credentials re-read in the background (from Redis or the database) because they were used late in their CACHE_TTL',
    registers: [this.registry],
  });
  readonly leaseLapses = new Counter({
    name: 'latchkey_cache_lease_lapses_total',
    help: "Validations that found the in-process tier's coherence lease lapsed (a heartbeat answered late, usually a busy event loop) and waited for the next answer",
    registers: [this.registry],
  });
  readonly epochWaits = new Counter({
    name: 'latchkey_cache_epoch_waits_total',
    help: 'Validations that read the cache epoch before trusting cached copies (the first after an idle spell, or a late poll)',
    registers: [this.registry],
  });
  readonly epochBumps = new Counter({
    name: 'latchkey_cache_epoch_changes_total',
    help: 'Cache epoch changes seen by this instance (each discards every cached entry)',
    registers: [this.registry],
  });
  readonly validationSeconds = new Histogram({
    name: 'latchkey_validation_duration_seconds',
    help: `Time to validate a credential, measured on one validation in ${VALIDATION_TIMING_SAMPLE} (use latchkey_validations_total for counts)`,
    buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly loginSeconds = new Histogram({
    name: 'latchkey_login_duration_seconds',
    help: 'Time to answer a login attempt (password hashing included)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'latchkey_rate_limited_total',
    help: 'Requests refused by the login rate limit',
    registers: [this.registry],
  });
  readonly pruneRuns = new Counter({
    name: 'latchkey_prune_runs_total',
    help: 'Prune runs by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly prunedRows = new Counter({
    name: 'latchkey_pruned_rows_total',
    help: 'Rows deleted by prune runs',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly mails = new Counter({
    name: 'latchkey_mails_total',
    help: 'Mails of the outbox by outcome: sent, retried (an attempt failed; another follows) or failed (given up)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly redisUp: Gauge;
  readonly databaseUp = new Gauge({
    name: 'latchkey_database_up',
    help: '1 when the last database round trip succeeded',
    registers: [this.registry],
  });

  private validationsSinceTimed = 0;

  constructor(options: { processMetrics?: boolean; redisStatus?: () => boolean } = {}) {
    const redisStatus = options.redisStatus;
    this.redisUp = new Gauge({
      name: 'latchkey_redis_up',
      help: '1 when Redis is connected and trusted, 0 otherwise (always 0 without Redis)',
      registers: [this.registry],
      collect() {
        this.set(redisStatus?.() ? 1 : 0);
      },
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** A start time (ms) for one validation in VALIDATION_TIMING_SAMPLE; undefined for the others. */
  startValidationTimer(): ValidationTimer {
    if (++this.validationsSinceTimed < VALIDATION_TIMING_SAMPLE) return undefined;
    this.validationsSinceTimed = 0;
    return performance.now();
  }

  /** Counts a validation and, when it was sampled, records how long it took. */
  recordValidation(kind: CredentialKind, outcome: ValidationOutcome, timer: ValidationTimer): void {
    this.validationCounts[kind][outcome]++;
    if (timer !== undefined) this.validationSeconds.observe((performance.now() - timer) / 1000);
  }

  /** Counts where a validated credential was found. */
  countLookup(tier: CacheTier): void {
    this.lookupCounts[tier]++;
  }
}

/** A prom-client counter whose values are read from `values()` at each scrape; a series appears once it is non-zero. */
function publishedCounter(
  registry: Registry,
  options: { name: string; help: string; labelNames: string[]; values: () => { labels: Record<string, string>; count: number }[] },
): Counter<string> {
  return new Counter({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, count } of options.values()) if (count > 0) this.inc(labels, count);
    },
  });
}
