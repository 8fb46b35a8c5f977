// Builds ioredis connections for one server (REDIS_URL / REDIS_HOST), Sentinel or Cluster, and
// tells the shared tier when a Cluster's topology changed. ioredis is chosen for its mature
// Cluster and Sentinel support and per-command timeouts. docs/scale-out.md explains the choices.
import { createConnection, type Socket } from 'node:net';
import { AbstractConnector, Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { HostPort, RedisConfig } from '../config.js';

export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  timeoutMs: number;
  /** Commands fail at once while disconnected instead of queueing (the cache path). */
  failFast: boolean;
}

/**
 * How often a Cluster client re-reads the slot map by itself. Without it, a master that
 * vanished without closing its sockets (a partition, a dead host) would be noticed only by
 * timeouts; with it, latchkey follows a failover within about this long.
 */
const CLUSTER_SLOTS_REFRESH_MS = 1000;

const BACKSTOP_TIMEOUT_FACTOR = 4;

function baseOptions({ timeoutMs, failFast }: ClientOptions): RedisOptions {
  return {
    // The cache path judges REDIS_TIMEOUT itself (CommandDeadlines, aware of event-loop lag);
    // this backstop only releases commands stuck on a connection that never answers.
    commandTimeout: failFast ? BACKSTOP_TIMEOUT_FACTOR * timeoutMs : undefined,
    connectTimeout: Math.max(1000, timeoutMs * 4),
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 0 : null,
    autoResubscribe: false,
    enableAutoPipelining: true,
    // Entry reads are batched into MGETs by the cache itself (BatchedReads), and sent at once.
    autoPipeliningIgnoredCommands: ['mget'],
    lazyConnect: true,
    // Keep trying forever, at most every 1 s: Redis is a cache and may come back at any time.
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
  };
}

/** The connection for reads, writes and scripts. */
export function createRedisClient(config: RedisConfig, options: ClientOptions): RedisClient {
  const base = baseOptions(options);
  switch (config.kind) {
    case 'url':
      return new Redis(config.url, base);
    case 'host':
      return new Redis({ ...base, host: config.host, port: config.port, password: config.password });
    case 'sentinel':
      return new Redis(sentinelOptions(config, base));
    case 'cluster':
      return new Cluster(config.nodes, clusterOptions(config, base, options.failFast));
  }
}

/**
 * The connection that listens on the invalidation channel. It is always one plain connection,
 * so that its 'close' event means exactly "invalidations may have been missed". (ioredis's own
 * Cluster subscriber moves to another node silently when its node fails, dropping what was
 * published meanwhile without telling anyone.) In a Cluster it may sit on any node, master or
 * replica, because PUBLISH is broadcast to every node; on reconnect it tries the next one.
 */
export function createSubscriber(config: RedisConfig, timeoutMs: number): Redis {
  const base = baseOptions({ timeoutMs, failFast: false });
  if (config.kind !== 'cluster') return createRedisClient(config, { timeoutMs, failFast: false }) as Redis;
  return new Redis({ ...base, password: config.password, Connector: rotatingConnector(config.nodes) });
}

/**
 * Calls `changed` synchronously whenever the set of masters a Cluster client routes to changes:
 * a master's connection ended, a new master appeared, or a slot-map refresh shows another set
 * (a failover, CLUSTER FAILOVER included, where no connection of ours closes). Being
 * synchronous, the caller can stop trusting the data before the next command reaches a newly
 * promoted replica. Replicas joining or leaving (CLUSTER SLOTS lists a replica only once it has
 * replicated something) do not matter: data is read from masters only. Plain and Sentinel
 * clients need none of this, since a failover closes their connection.
 */
export function onTopologyChange(client: RedisClient, changed: () => void): void {
  if (!(client instanceof Cluster)) return;
  let masters = '';
  const compare = () => {
    const now = masterKeys(client);
    if (now === masters) return;
    masters = now;
    changed();
  };
  client.on('+node', (node: Redis) => {
    if (!node.options.readOnly) compare();
  });
  client.on('-node', (node: Redis) => {
    if (node.options.readOnly) return;
    compare();
    // Look for the replica that takes over now rather than at the next periodic refresh.
    client.refreshSlotsCache();
  });
  client.on('refresh', compare);
}

function masterKeys(cluster: Cluster): string {
  return cluster
    .nodes('master')
    .map((n) => `${n.options.host}:${n.options.port}`)
    .sort()
    .join(',');
}

function sentinelOptions(config: Extract<RedisConfig, { kind: 'sentinel' }>, base: RedisOptions): RedisOptions {
  return {
    ...base,
    sentinels: config.sentinels,
    name: config.name,
    password: config.password,
    sentinelPassword: config.password,
    // Drop the connection as soon as a sentinel announces +switch-master, instead of writing
    // to a demoted master until Sentinel gets round to killing its clients.
    failoverDetector: true,
  };
}

function clusterOptions(config: Extract<RedisConfig, { kind: 'cluster' }>, base: RedisOptions, failFast: boolean): ClusterOptions {
  return {
    redisOptions: { ...base, password: config.password },
    enableOfflineQueue: base.enableOfflineQueue,
    enableAutoPipelining: true,
    lazyConnect: true,
    clusterRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
    // ioredis would otherwise retry a command every 100 ms through a failover (up to 16
    // times); the cache path must give up within REDIS_TIMEOUT and use the database.
    ...(failFast ? { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0, retryDelayOnTryAgain: 0, maxRedirections: 4 } : {}),
  };
}

/** Connects to the next node of the list on every (re)connection. */
function rotatingConnector(nodes: HostPort[]) {
  let next = 0;
  return class RotatingConnector extends AbstractConnector {
    constructor(options: unknown) {
      super((options as RedisOptions).disconnectTimeout ?? 2000);
    }

    connect(): Promise<Socket> {
      const node = nodes[next++ % nodes.length]!;
      this.connecting = true;
      return new Promise((resolve, reject) => {
        // As ioredis's own connectors do: open on the next tick, unless disconnect() came first.
        process.nextTick(() => {
          if (!this.connecting) {
            reject(new Error('Connection is closed.'));
            return;
          }
          const socket = createConnection({ host: node.host, port: node.port });
          socket.once('error', (error) => {
            this.firstError = error;
          });
          this.stream = socket;
          resolve(socket);
        });
      });
    }
  };
}
