// Builds ioredis clients for one server (REDIS_URL / REDIS_HOST), Sentinel or Cluster.
// ioredis is chosen for its mature Cluster and Sentinel support and per-command timeouts.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';

export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  timeoutMs: number;
  /** Commands fail at once while disconnected instead of queueing (the cache path). */
  failFast: boolean;
}

function baseOptions({ timeoutMs, failFast }: ClientOptions): RedisOptions {
  return {
    commandTimeout: failFast ? timeoutMs : undefined,
    connectTimeout: Math.max(1000, timeoutMs * 4),
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 0 : null,
    autoResubscribe: false,
    enableAutoPipelining: true,
    lazyConnect: true,
    // Keep trying forever, at most every 1 s: Redis is a cache and may come back at any time.
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
  };
}

export function createRedisClient(config: RedisConfig, options: ClientOptions): RedisClient {
  const base = baseOptions(options);
  switch (config.kind) {
    case 'url':
      return new Redis(config.url, base);
    case 'host':
      return new Redis({ ...base, host: config.host, port: config.port, password: config.password });
    case 'sentinel':
      return new Redis({ ...base, sentinels: config.sentinels, name: config.name, password: config.password, sentinelPassword: config.password });
    case 'cluster':
      return new Cluster(config.nodes, {
        redisOptions: { ...base, password: config.password },
        enableOfflineQueue: base.enableOfflineQueue,
        enableAutoPipelining: true,
        lazyConnect: true,
        clusterRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      });
  }
}
