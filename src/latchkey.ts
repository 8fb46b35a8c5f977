// Composition root: builds the core from a Config. The server, the CLI and tests all start
// latchkey through here, so they run exactly the same wiring.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { CredentialCache, type CredentialCacheDeps } from './cache/credential-cache.js';
import { RateLimiter } from './cache/rate-limiter.js';
import type { Config } from './config.js';
import { Accounts } from './core/accounts.js';
import { ActivityRecorder } from './core/activity.js';
import { Credentials } from './core/credentials.js';
import { createPasswordHasher, type PasswordHasher } from './core/passwords.js';
import { Metrics } from './observability/metrics.js';
import { SqlStore } from './store/sql-store.js';
import { migrateDatabase } from './store/migrate.js';
import { openAccountRecovery } from './account-recovery.js';
import type { PasswordRecovery } from './core/recovery.js';
import type { EmailVerification } from './core/email-verification.js';
import type { MailOutbox } from './mail/outbox.js';

export interface Latchkey {
  config: Config;
  /** Names this process in locks and logs. */
  instanceId: string;
  /** The database (its stores, health and statement count). */
  store: SqlStore;
  /** Read-only use outside the core: status and health. Forgetting goes through `credentials`. */
  cache: CredentialCache;
  rateLimiter: RateLimiter;
  activity: ActivityRecorder;
  hasher: PasswordHasher;
  /** Validates, issues and revokes tokens and sessions: the one owner of the cache protocol. */
  credentials: Credentials;
  /** Register, login, password change and the signed-in user's own credentials. */
  accounts: Accounts;
  metrics: Metrics;
  logger: Logger;
  /** Account recovery and email verification (docs/recovery.md). */
  recovery: PasswordRecovery;
  verification: EmailVerification;
  mailOutbox: MailOutbox;
  close(): Promise<void>;
}

export interface OpenOptions {
  logger: Logger;
  /** Run migrations first (serve does unless --no-migrate; tests do). */
  migrate?: boolean;
  /** A process that serves no requests (the CLI). */
  announceByEpoch?: boolean;
  processMetrics?: boolean;
  /** Tests only: see CredentialCacheDeps.hooks. */
  cacheHooks?: CredentialCacheDeps['hooks'];
}

export async function openLatchkey(config: Config, options: OpenOptions): Promise<Latchkey> {
  const { logger } = options;
  if (config.databaseReplicaUrl) {
    // Every read here either decides whether a credential is valid or must see the caller's
    // own writes, so none may lag: see "Database replicas" in docs/scale-out.md.
    logger.info({ event: 'database_replica_unused' }, 'DATABASE_REPLICA_URL is set; latchkey reads and writes DATABASE_URL only (docs/scale-out.md)');
  }
  const store = new SqlStore(config.databaseUrl, { queryTimeoutMs: config.databaseTimeoutMs });
  try {
    if (options.migrate) await migrateDatabase(config.databaseUrl, store);
    const metrics = new Metrics({ processMetrics: options.processMetrics, redisStatus: config.redis ? (): boolean => cache.status() === 'up' : undefined });
    const credentialStore = store.credentials;
    // The cache reports credentials it finds deleted; they are revoked like any other.
    const revokeGone: CredentialCacheDeps['onGone'] = (kind, hash) => credentials.revoke({ gone: { kind, hash } });
    const cache: CredentialCache = new CredentialCache(
      {
        load: (kind, hash, tokenId) => (kind === 't' ? credentialStore.findToken(tokenId, hash) : credentialStore.findSession(hash)),
        cacheState: store.cacheState,
        onGone: revokeGone,
        hooks: options.cacheHooks,
      },
      {
        ttlSeconds: config.cacheTtlSeconds,
        redis: config.redis,
        prefix: config.cachePrefix,
        redisTimeoutMs: config.redisTimeoutMs,
        epochPollMs: config.epochPollMs,
        memoryEntries: config.memoryCacheEntries,
        memoryBytes: config.memoryCacheBytes,
        announceByEpoch: options.announceByEpoch,
      },
      metrics,
      logger,
    );
    await cache.start();
    const rateLimiter = new RateLimiter(config.loginRateLimit, cache.redis);
    const forgetActivityAfterMs = Math.max(config.sessionLifetimeMinutes * 60_000, 2 * config.lastUsedFlushSeconds * 1000);
    const activity = new ActivityRecorder(credentialStore, config.lastUsedFlushSeconds * 1000, forgetActivityAfterMs, logger);
    activity.start();
    const hasher = createPasswordHasher(config.passwordHasher, config.bcryptRounds, config.passwordHashQueue);
    const credentials: Credentials = new Credentials({ config, store: credentialStore, users: store.users, cache, activity, metrics });
    const instanceId = randomUUID();
    const account = openAccountRecovery(config, { store, sharedCounters: cache.redis, credentials, hasher, metrics, logger, instanceId, sendsMail: !options.announceByEpoch });
    const accounts = new Accounts({ config, users: store.users, credentials, hasher, rateLimiter, metrics, logger, onRegistered: account.onRegistered });
    metrics.databaseUp.set(1);

    return {
      config,
      instanceId,
      recovery: account.recovery,
      verification: account.verification,
      mailOutbox: account.outbox,
      store,
      cache,
      rateLimiter,
      activity,
      hasher,
      credentials,
      accounts,
      metrics,
      logger,
      async close() {
        await activity.close();
        await account.close();
        rateLimiter.close();
        await cache.close();
        await store.close();
        await hasher.close();
      },
    };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
