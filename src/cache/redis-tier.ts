// The shared tier: cached entries and tombstones in Redis, and the invalidation channel that
// keeps every instance's in-process tier coherent. It knows connections and Lua scripts; the
// rules for when its contents may be trusted live in CredentialCache.
import type { Logger } from 'pino';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { createRedisClient, type RedisClient } from './redis-client.js';

/** Refuses the fill if the key holds a tombstone, or if the fill arrives after its deadline. */
const FILL_SCRIPT = `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[3]) then return 0 end
if redis.call('GET', KEYS[1]) == '!' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** Writes the tombstone and tells every instance, atomically. */
const TOMBSTONE_SCRIPT = `
redis.call('SET', KEYS[1], '!', 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;

type ScriptedClient = RedisClient & {
  latchkeyFill(key: string, value: string, ttlMs: number, deadlineMs: number): Promise<number>;
  latchkeyTombstone(key: string, ttlMs: number, channel: string, message: string): Promise<number>;
};

export interface RedisTierEvents {
  /** Keys (without prefix) another instance revoked. */
  invalidate(keys: string[]): void;
  /** Both connections are up; resolve once the contents may be trusted (see CredentialCache). */
  connected(runId: string): Promise<void>;
  /** A connection dropped: invalidations may have been missed. */
  disconnected(): void;
}

const SUSPEND_AFTER_TIMEOUT_MS = 1000;

export class RedisTier {
  readonly client: ScriptedClient;
  private readonly subscriber: RedisClient;
  private readonly channel: string;
  private trusted = false;
  private attempt = 0;
  private suspendedUntil = 0;
  private closed = false;
  private wasEverTrusted = false;

  constructor(
    config: RedisConfig,
    readonly prefix: string,
    timeoutMs: number,
    private readonly events: RedisTierEvents,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}invalidate`;
    this.client = createRedisClient(config, { timeoutMs, failFast: true }) as ScriptedClient;
    this.client.defineCommand('latchkeyFill', { numberOfKeys: 1, lua: FILL_SCRIPT });
    this.client.defineCommand('latchkeyTombstone', { numberOfKeys: 1, lua: TOMBSTONE_SCRIPT });
    this.subscriber = createRedisClient(config, { timeoutMs, failFast: false });

    for (const conn of [this.client, this.subscriber]) {
      conn.on('ready', () => void this.establish());
      conn.on('close', () => this.lose());
      conn.on('error', () => {
        /* reported once through lose(); ioredis reconnects by itself */
      });
    }
    this.subscriber.on('message', (_channel: string, message: string) => this.events.invalidate(message.split(',')));
  }

  start(): void {
    // Connection failures are not fatal: latchkey serves from the database meanwhile.
    this.client.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
  }

  /** Entries may be read and written (connected, sealed, not recently timing out). */
  get usable(): boolean {
    return this.trusted && Date.now() >= this.suspendedUntil;
  }

  /** The invalidation channel is live, so an in-process copy cannot miss a revocation. */
  get coherent(): boolean {
    return this.trusted;
  }

  async get(key: string): Promise<string | null> {
    return this.watch(this.client.get(this.prefix + key));
  }

  async fill(key: string, value: string, ttlMs: number, deadlineMs: number): Promise<void> {
    await this.watch(this.client.latchkeyFill(this.prefix + key, value, ttlMs, deadlineMs));
  }

  async tombstone(keys: string[], ttlMs: number): Promise<void> {
    // One key per script call so that Redis Cluster never sees keys of two slots together.
    await this.watch(Promise.all(keys.map((key) => this.client.latchkeyTombstone(this.prefix + key, ttlMs, this.channel, key))));
  }

  /** Deletes cached entries and tombstones (keys `t:` and `s:`) on every master. */
  async clearCached(): Promise<number> {
    let removed = 0;
    const escaped = this.prefix.replace(/[*?[\]\\]/g, '\\$&');
    for (const node of this.masters()) {
      for (const kind of ['t', 's']) {
        const stream = node.scanStream({ match: `${escaped}${kind}:*`, count: 1000 });
        for await (const keys of stream as AsyncIterable<string[]>) {
          if (keys.length > 0) removed += await node.unlink(...keys);
        }
      }
    }
    return removed;
  }

  /** Identity of the Redis data set: changes when a server restarts or a replica takes over. */
  async runId(): Promise<string> {
    const ids = await Promise.all(this.masters().map(async (node) => /run_id:(\w+)/.exec(await node.info('server'))?.[1] ?? 'unknown'));
    return ids.sort().join(',');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.trusted = false;
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private masters(): Redis[] {
    return 'nodes' in this.client && typeof (this.client as Cluster).nodes === 'function' && (this.client as Cluster).isCluster
      ? (this.client as Cluster).nodes('master')
      : [this.client as Redis];
  }

  private async establish(): Promise<void> {
    if (this.closed || this.client.status !== 'ready' || this.subscriber.status !== 'ready') return;
    const attempt = ++this.attempt;
    try {
      await this.subscriber.subscribe(this.channel);
      const runId = await this.runId();
      await this.events.connected(runId);
      if (attempt !== this.attempt || this.closed) return;
      this.trusted = true;
      this.suspendedUntil = 0;
      this.logger.info({ event: 'redis_up' }, this.wasEverTrusted ? 'Redis is back: serving from the cache again' : 'Redis connected');
      this.wasEverTrusted = true;
    } catch (error) {
      if (attempt !== this.attempt || this.closed) return;
      this.logger.warn({ event: 'redis_handshake_failed', err: String(error) }, 'Redis connected but could not be trusted yet; retrying in 1 s');
      setTimeout(() => void this.establish(), 1000).unref();
    }
  }

  private lose(): void {
    this.attempt++;
    const wasTrusted = this.trusted;
    this.trusted = false;
    this.events.disconnected();
    if (wasTrusted && !this.closed) {
      this.logger.warn({ event: 'redis_down' }, 'Redis unavailable: serving from the database until it is back');
    }
  }

  /** A timed-out command suspends the tier briefly, so only one request per second pays the timeout. */
  private async watch<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (/timed out/i.test(String((error as Error)?.message))) {
        if (this.usable) this.logger.warn({ event: 'redis_slow' }, 'Redis timed out: serving from the database for now');
        this.suspendedUntil = Date.now() + SUSPEND_AFTER_TIMEOUT_MS;
      }
      throw error;
    }
  }
}
