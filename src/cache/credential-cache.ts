// The revocation-safe cache protocol (docs/revocation.md): an in-process tier in front of an
// optional Redis tier, in front of the database. In short:
//  - every entry carries the cache epoch it was read under; entries of another epoch are misses;
//  - a revocation deletes rows first, then tombstones the Redis keys and publishes them on the
//    invalidation channel; if Redis cannot confirm that, it bumps the epoch in the database,
//    which every instance polls every LATCHKEY_EPOCH_POLL_MS;
//  - the in-process tier is read only while the invalidation channel is live and a heartbeat
//    on it was answered within the last 75 ms (a lease), and a fill is dropped if any
//    invalidation arrived since it started (the "generation" check);
//  - a Redis connection is trusted only after its run_id is sealed against the database epoch,
//    so a restarted or failed-over Redis holding old data is never read under the current epoch.
import type { Logger } from 'pino';
import type { RedisConfig } from '../config.js';
import type { CacheStateStore, CacheStatus, Credential, CredentialCache as CredentialCachePort, CredentialKind } from '../core/ports.js';
import type { AuthContext, Revoked } from '../core/types.js';
import type { Metrics } from '../observability/metrics.js';
import { cacheEntry, decodeEntry, encodeEntry, renew, TOMBSTONE, type CacheEntry } from './entry.js';
import { MemoryTier } from './memory-tier.js';
import { RedisTier } from './redis-tier.js';

/** A fill whose database read began longer ago than this is dropped (tombstones outlive it). */
const FILL_DEADLINE_MS = 5000;

/**
 * A credential used after a share of its CACHE_TTL drawn at random in this range is re-read in
 * the background (refreshAhead). Random per entry: credentials first seen together (a start, a
 * new epoch) would otherwise all come due in the same second, a burst of database reads.
 */
const REFRESH_AHEAD_FROM = 0.5;
const REFRESH_AHEAD_TO = 0.85;
/** Background re-reads at once, at most; a credential due meanwhile is re-read on a later use. */
const MAX_CONCURRENT_REFRESHES = 32;
/** An instance with no validation for this long is idle: it reads the epoch once a second only. */
const IDLE_AFTER_MS = 1000;
const IDLE_EPOCH_POLL_MS = 1000;
/**
 * The epoch lease, in poll intervals: a poll every interval keeps it with room for a read that is
 * slow to come back on a busy event loop, and at the default 50 ms it stays under the 100 ms
 * revocation window (90 ms).
 */
const EPOCH_LEASE_POLLS = 1.8;

export interface CredentialCacheOptions {
  ttlSeconds: number;
  redis?: RedisConfig;
  prefix: string;
  redisTimeoutMs: number;
  epochPollMs: number;
  memoryEntries: number;
  memoryBytes: number;
  /**
   * True for processes that serve no requests (the CLI): with no Redis, their revocations
   * reach the server only through the epoch.
   */
  announceByEpoch?: boolean;
}

/** What read() found, and in which tier (null: a tombstone in Redis). */
type Found = { entry: CacheEntry; from: 'redis' } | { entry: CacheEntry | undefined; from: 'database' } | { entry: undefined; from: null };

export interface CredentialCacheDeps {
  /** Reads a credential from the database. */
  load(kind: CredentialKind, hash: string, tokenId: number | null): Promise<Credential | undefined>;
  cacheState: CacheStateStore;
  /** A background re-read found the credential deleted (by another program): revoke it everywhere. */
  onGone(kind: CredentialKind, hash: string): Promise<unknown>;
  /**
   * Tests only (test/revocation), to force interleavings: runs after a database read, before its
   * result fills the tiers; `key` is `t:` or `s:` + hash. Read on each miss, so a test may set it late.
   */
  hooks?: { afterLoad?: (key: string) => Promise<void> };
}

export class CredentialCache implements CredentialCachePort {
  readonly redis: RedisTier | undefined;
  private readonly memory: MemoryTier;
  private readonly ttlMs: number;
  /** Cache keys being re-read by refreshAhead, so that a busy credential is re-read once. */
  private readonly refreshing = new Set<string>();
  /** Misses being looked up, so that concurrent requests for one credential read it once. */
  private readonly inFlight = new Map<string, Promise<Found>>();
  private epoch = 0;
  /** Bumped by every invalidation; a fill that saw another value is dropped. */
  private generation = 0;
  private poller: NodeJS.Timeout | undefined;
  /**
   * The epoch lease (docs/revocation.md): cached copies are trusted only while the epoch was read
   * less than this long ago, so a bump is seen within it whether or not the poll timer ran on
   * time, and an idle instance need not poll at all.
   */
  private readonly epochLeaseMs: number;
  /** When the latest successful epoch read began. */
  private epochReadAt = 0;
  /** The epoch read in flight (one at a time: a slow database must not pile them up). */
  private epochRead: Promise<void> | undefined;
  /**
   * The database did not answer the latest epoch read (failed, or slower than the poll
   * interval). No instance can bump the epoch through a database that does not answer, and
   * cached credentials must keep validating through its outage: trust the epoch held.
   */
  private epochUnreadable = false;
  /** When a validation last asked: an idle instance reads the epoch once a second only. */
  private lastUse = 0;
  /** The Redis identity this instance sealed its current connection to (see seal()). */
  private sealedRunId: string | null = null;

  constructor(
    private readonly deps: CredentialCacheDeps,
    private readonly options: CredentialCacheOptions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.ttlMs = options.ttlSeconds * 1000;
    this.epochLeaseMs = options.epochPollMs * EPOCH_LEASE_POLLS;
    this.memory = new MemoryTier(options.memoryEntries, options.memoryBytes);
    this.redis = options.redis
      ? new RedisTier(
          options.redis,
          options.prefix,
          options.redisTimeoutMs,
          {
            invalidate: (keys) => this.forgetLocally(keys),
            connected: (runId) => this.seal(runId),
            disconnected: () => this.discardLocal(),
          },
          logger,
        )
      : undefined;
  }

  /** Reads the epoch, connects Redis and starts polling. Fails only if the database does. */
  async start(): Promise<void> {
    this.epochReadAt = Date.now();
    this.adoptEpoch((await this.deps.cacheState.read()).epoch);
    this.redis?.start();
    this.poller = setInterval(() => this.pollEpoch(), this.options.epochPollMs);
    this.poller.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    this.redis?.close();
  }

  keeps(ctx: AuthContext): boolean {
    return (ctx as CacheEntry).kept;
  }

  status(): CacheStatus {
    if (!this.redis) return 'memory';
    return this.redis.usable ? 'up' : 'down';
  }

  /**
   * The credential from the in-process tier, synchronously, when that tier may be trusted and
   * holds a fresh copy: the warm path of every validation, with no promise and no I/O.
   */
  cached(kind: CredentialKind, hash: string): CacheEntry | undefined {
    const now = Date.now();
    this.lastUse = now;
    if (!this.epochCurrent(now)) return undefined;
    if (this.redis && !this.redis.coherent) {
      if (this.redis.listening) this.metrics.leaseLapses.inc();
      return undefined;
    }
    return this.fromMemory(kind, hash, now);
  }

  private fromMemory(kind: CredentialKind, hash: string, now: number): CacheEntry | undefined {
    const local = this.memory.get(kind, hash);
    if (local === undefined || now - local.verifiedAt >= this.ttlMs) return undefined;
    if (now >= local.refreshAt) this.refreshAhead(kind, hash, local);
    this.metrics.countLookup('memory');
    return local;
  }

  /**
   * Finds a credential that cached() did not. First it renews what cached() found lapsed (the
   * epoch lease, the coherence lease), since on a busy event loop that is usually a late timer,
   * not news; then the in-process tier again, then Redis when it may be trusted, else the
   * database (filling the tiers). Concurrent misses of one credential share one read.
   */
  lookup(kind: CredentialKind, hash: string, tokenId: number | null): Promise<CacheEntry | undefined> {
    const now = Date.now();
    this.lastUse = now;
    // Not lapsed: cached() has just looked in the in-process tier, so straight to the shared
    // read, with no promise more than it needs (this is the path of every Redis hit).
    const lapsed = !this.epochCurrent(now) || (this.redis !== undefined && this.redis.listening && !this.redis.coherent);
    return lapsed ? this.renewThenLookup(kind, hash, tokenId) : this.readShared(kind, hash, tokenId);
  }

  private async renewThenLookup(kind: CredentialKind, hash: string, tokenId: number | null): Promise<CacheEntry | undefined> {
    if (!this.epochCurrent(Date.now())) await this.confirmEpoch();
    if (this.redis ? this.redis.listening && (await this.redis.confirmCoherence()) : true) {
      const local = this.fromMemory(kind, hash, Date.now());
      if (local) return local;
    }
    return this.readShared(kind, hash, tokenId);
  }

  private readShared(kind: CredentialKind, hash: string, tokenId: number | null): Promise<CacheEntry | undefined> {
    const key = `${kind}:${hash}:${tokenId}`;
    let reading = this.inFlight.get(key);
    if (!reading) {
      reading = this.read(kind, hash, tokenId, this.ttlMs).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, reading);
    }
    return reading.then(({ entry, from }) => {
      if (from) this.metrics.countLookup(from);
      // With the in-process tier off, Redis serves every request: refresh ahead from here too.
      if (from === 'redis' && Date.now() >= entry.refreshAt) this.refreshAhead(kind, hash, entry);
      return entry;
    });
  }

  /**
   * lookup() for a copy at most `maxAgeMs` old; `from` is where it was looked up last (null for a
   * tombstone).
   */
  private async read(kind: CredentialKind, hash: string, tokenId: number | null, maxAgeMs: number): Promise<Found> {
    const key = `${kind}:${hash}`;
    const generation = this.generation;
    const epoch = this.epoch;

    if (this.redis?.usable) {
      try {
        const raw = await this.redis.get(key);
        // A tombstone is written only after the row was deleted: the credential is gone.
        if (raw === TOMBSTONE) return { entry: undefined, from: null };
        const shared = raw === null ? undefined : decodeEntry(raw);
        if (shared && shared.epoch === this.epoch && Date.now() - shared.verifiedAt < maxAgeMs) {
          return { entry: this.remember(key, shared, generation), from: 'redis' };
        }
      } catch {
        this.metrics.fallbacks.inc();
      }
    } else if (this.redis) {
      this.metrics.fallbacks.inc();
    }
    return { entry: await this.readDatabase(kind, hash, tokenId, generation, epoch), from: 'database' };
  }

  /** Reads a credential from the database and fills both tiers with it (the fill rules above). */
  private async readDatabase(kind: CredentialKind, hash: string, tokenId: number | null, generation: number, epoch: number): Promise<CacheEntry | undefined> {
    const key = `${kind}:${hash}`;
    const verifiedAt = Date.now();
    const credential = await this.deps.load(kind, hash, tokenId);
    if (!credential) return undefined;
    const afterLoad = this.deps.hooks?.afterLoad;
    if (afterLoad) await afterLoad(key);
    const entry = cacheEntry(credential, verifiedAt, epoch);
    if (this.redis?.usable) {
      this.redis.fill(key, encodeEntry(entry), this.ttlMs, verifiedAt + FILL_DEADLINE_MS).catch(() => this.metrics.fallbacks.inc());
    }
    return this.remember(key, entry, generation);
  }

  /**
   * Replaces, without making the request wait, the entry of a credential still in use late in its
   * CACHE_TTL: no request then pays for a busy credential's database read. The new copy comes
   * from Redis if another instance has refreshed it already, else from the database. Nothing is
   * served older than CACHE_TTL all the same. A credential found gone is forgotten everywhere at
   * once; if the read fails, the entry serves until its TTL, as it would have anyway.
   */
  private refreshAhead(kind: CredentialKind, hash: string, entry: CacheEntry): void {
    const key = `${kind}:${hash}`;
    if (this.refreshing.has(key) || this.refreshing.size >= MAX_CONCURRENT_REFRESHES) return;
    this.refreshing.add(key);
    this.metrics.refreshes.inc();
    // A copy another instance refreshed since this one came due is as good as a database read.
    this.read(kind, hash, entry.token?.id ?? null, Math.max(0, entry.refreshAt - entry.verifiedAt))
      // Gone (deleted by another program): revoked everywhere, rather than left to the TTL.
      .then(({ entry: fresh }) => (fresh ? undefined : this.deps.onGone(kind, hash)))
      .catch(() => undefined)
      .finally(() => this.refreshing.delete(key));
  }

  /**
   * Makes every tier of every instance forget credentials whose rows were just deleted. When
   * this resolves, this instance rejects them; others do within the documented window.
   */
  async forget(revoked: Revoked): Promise<void> {
    const keys = [...revoked.tokens.map((h) => `t:${h}`), ...revoked.sessions.map((h) => `s:${h}`)];
    if (keys.length === 0) return;
    this.forgetLocally(keys);
    try {
      await this.announce(keys);
    } finally {
      // Again: a lookup that began after the first eviction may have read Redis before the
      // tombstone landed and remembered that entry; our own PUBLISH may arrive after we return.
      this.forgetLocally(keys);
    }
  }

  /** Tells every other instance: tombstones and PUBLISH, or else a new epoch. */
  private async announce(keys: string[]): Promise<void> {
    if (this.redis) {
      if (this.redis.usable) {
        try {
          await this.redis.tombstone(keys, this.tombstoneTtlMs());
          // A failover may have happened under us: if another instance has already sealed
          // the epoch to a newer master, our tombstones may sit on a demoted one and be lost.
          if ((await this.deps.cacheState.read()).redisRunId === this.sealedRunId) return;
        } catch {
          // fall through to the epoch
        }
      }
      // Redis could not confirm: make every instance's cached copies worthless instead.
      this.metrics.fallbacks.inc();
      await this.bumpEpoch();
    } else if (this.options.announceByEpoch) {
      await this.bumpEpoch();
    }
  }

  /** Discards everything cached by every instance (revoke --all, cache:clear). */
  async invalidateAll(): Promise<void> {
    await this.bumpEpoch();
  }

  private async bumpEpoch(redisRunId?: string | null): Promise<number> {
    const epoch = await this.deps.cacheState.bump(redisRunId);
    this.adoptEpoch(epoch);
    return epoch;
  }

  /** Drops latchkey's entries and tombstones from Redis, then bumps the epoch. */
  async clear(): Promise<number> {
    // An unreachable Redis keeps its keys; the new epoch makes them worthless all the same.
    const removed = this.redis?.usable ? await this.redis.clearCached() : 0;
    await this.bumpEpoch();
    return removed;
  }

  /** Resolves once Redis is trusted (tests, CLI); false after the timeout. */
  async waitForRedis(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.redis?.usable) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  private tombstoneTtlMs(): number {
    // Outlives every fill that could still arrive (FILL_DEADLINE_MS) with room for clock skew.
    return this.ttlMs + 2 * FILL_DEADLINE_MS;
  }

  /**
   * Offers an entry to the in-process tier (MemoryTier.admit) unless an invalidation or an epoch change came in
   * since its lookup began, or invalidations cannot currently reach us; returns the entry to
   * serve. A re-read of an unchanged credential renews the entry already held rather than
   * replacing it, so that what is kept with it (the rendered bodies) stays.
   */
  private remember(key: string, entry: CacheEntry, generation: number): CacheEntry {
    entry.refreshAt = entry.verifiedAt + this.ttlMs * (REFRESH_AHEAD_FROM + Math.random() * (REFRESH_AHEAD_TO - REFRESH_AHEAD_FROM));
    if (generation !== this.generation || entry.epoch !== this.epoch || (this.redis ? !this.redis.listening : false)) return entry;
    const held = this.memory.get(key[0] as CredentialKind, key.slice(2));
    if (held && renew(held, entry)) return held;
    entry.kept = this.memory.admit(key, entry);
    return entry;
  }

  private forgetLocally(keys: string[]): void {
    this.generation++;
    for (const key of keys) this.memory.delete(key);
  }

  private discardLocal(): void {
    this.generation++;
    this.memory.clear();
  }

  private adoptEpoch(epoch: number): void {
    if (epoch <= this.epoch) return;
    const first = this.epoch === 0;
    this.epoch = epoch;
    this.discardLocal();
    if (!first) this.metrics.epochBumps.inc();
  }

  /**
   * Called on every Redis (re)connection. If the server is not the one the current epoch was
   * sealed against (it restarted, or a replica took over, possibly holding entries that were
   * revoked while it was away), start a new epoch sealed to it.
   */
  private async seal(runId: string): Promise<void> {
    // Subscribed now, but invalidations sent while we were not are lost: a lookup that began
    // before this point (its database read possibly older than a revocation we missed) must
    // not fill the in-process tier once we trust it again.
    this.discardLocal();
    this.sealedRunId = runId;
    const state = await this.deps.cacheState.read();
    if (state.redisRunId === runId) {
      this.adoptEpoch(state.epoch);
      return;
    }
    const epoch = await this.bumpEpoch(runId);
    this.logger.info({ event: 'cache_epoch_sealed', epoch }, 'New cache epoch for this Redis (earlier entries are ignored)');
  }

  /** Cached copies may be trusted as far as the epoch goes (see epochLeaseMs). */
  private epochCurrent(now: number): boolean {
    return now - this.epochReadAt < this.epochLeaseMs || this.epochUnreadable;
  }

  /** Every LATCHKEY_EPOCH_POLL_MS while validations come; once a second when idle. */
  private pollEpoch(): void {
    const now = Date.now();
    if (now - this.lastUse > IDLE_AFTER_MS && now - this.epochReadAt < IDLE_EPOCH_POLL_MS) return;
    void this.readEpoch();
  }

  /** Reads the epoch now (a lookup found the lease lapsed), waiting at most one poll interval. */
  private async confirmEpoch(): Promise<void> {
    this.metrics.epochWaits.inc();
    const read = this.readEpoch();
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.epochPollMs)));
    await Promise.race([read, slow]);
    clearTimeout(timer);
    // Slower than that, the database is in trouble: see epochUnreadable.
    if (!this.epochCurrent(Date.now())) this.epochUnreadable = true;
  }

  private readEpoch(): Promise<void> {
    this.epochRead ??= (async () => {
      const startedAt = Date.now();
      try {
        const { epoch } = await this.deps.cacheState.read();
        this.adoptEpoch(epoch);
        this.epochReadAt = startedAt;
        this.epochUnreadable = false;
        this.metrics.databaseUp.set(1);
      } catch {
        this.epochUnreadable = true;
        this.metrics.databaseUp.set(0);
      } finally {
        this.epochRead = undefined;
      }
    })();
    return this.epochRead;
  }
}
