// The shared tier: cached entries and tombstones in Redis, and the invalidation channel that
// keeps every instance's in-process tier coherent. It knows connections, Lua scripts and how
// healthy Redis is; the rules for when cached contents may be trusted live in CredentialCache.
import type { Logger } from 'pino';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { BatchedReads } from './batched-reads.js';
import { CommandDeadlines } from './command-deadlines.js';
import { createRedisClient, createSubscriber, onTopologyChange, type RedisClient } from './redis-client.js';

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

/**
 * How often the subscriber connection is pinged. Pings are pipelined (one per tick even while
 * earlier ones are unanswered, up to MAX_UNANSWERED), so a late answer delays the lease's
 * renewal by one round trip, not by a round trip plus a tick.
 */
const HEARTBEAT_MS = 20;
const MAX_UNANSWERED = 8;
/**
 * The in-process tier may be read only while a heartbeat sent less than this long ago has been
 * answered. Redis answers a connection in order, so every invalidation published before that
 * ping was processed has been applied already; a silently partitioned or paused connection
 * therefore stops being trusted within this lease (docs/revocation.md).
 */
const COHERENCE_LEASE_MS = 75;

/** Counts one hit in a fixed window that starts with the first; returns [count, ms left]. */
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/** Takes one hit back, never below zero and never creating the key (its window stays). */
const UNHIT_SCRIPT = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0`;

type ScriptedClient = RedisClient & {
  latchkeyFill(key: string, value: string, ttlMs: number, deadlineMs: number): Promise<number>;
  latchkeyTombstone(key: string, ttlMs: number, channel: string, message: string): Promise<number>;
  latchkeyHit(key: string, windowMs: number): Promise<[number, number]>;
  latchkeyUnhit(key: string): Promise<number>;
};

export interface RedisTierEvents {
  /** Keys (without prefix) another instance revoked. */
  invalidate(keys: string[]): void;
  /** Both connections are up and subscribed; resolve once the contents may be trusted (see CredentialCache). */
  connected(runId: string): Promise<void>;
  /** A connection dropped: invalidations may have been missed. */
  disconnected(): void;
}

export class RedisTier {
  readonly client: ScriptedClient;
  private readonly subscriber: RedisClient;
  private readonly channel: string;
  /** Both connections ready, subscribed and sealed (CredentialCache.seal). */
  private trusted = false;
  /** Bumped on every connection loss, so answers from an older connection are ignored. */
  private attempt = 0;
  /** A command or heartbeat outlived the timeout; cleared when a probe is answered in time. */
  private stalled = false;
  private probing = false;
  /** Send times of heartbeats not answered yet, oldest first (a connection answers in order). */
  private unanswered: number[] = [];
  /** When the latest answered heartbeat was sent: the in-process tier's lease starts there. */
  private leaseFrom = 0;
  /** Shared by the lookups waiting for the lease to be renewed (confirmCoherence). */
  private coherenceWait: { promise: Promise<boolean>; settle: () => void } | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** What was last logged, so an outage is logged once, not per request. */
  private health: 'starting' | 'up' | 'down' = 'starting';
  private closed = false;
  /** REDIS_TIMEOUT for every command: one that outlives it stalls the tier (see stall()). */
  private readonly deadlines: CommandDeadlines;
  /** Entry reads as one MGET per turn of the event loop; not on a Cluster, whose keys span slots. */
  private readonly reads: BatchedReads | undefined;

  constructor(
    config: RedisConfig,
    readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly events: RedisTierEvents,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}invalidate`;
    this.deadlines = new CommandDeadlines(timeoutMs, () => this.stall('timeout'));
    this.client = createRedisClient(config, { timeoutMs, failFast: true }) as ScriptedClient;
    this.client.defineCommand('latchkeyFill', { numberOfKeys: 1, lua: FILL_SCRIPT });
    this.client.defineCommand('latchkeyTombstone', { numberOfKeys: 1, lua: TOMBSTONE_SCRIPT });
    this.client.defineCommand('latchkeyHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.client.defineCommand('latchkeyUnhit', { numberOfKeys: 1, lua: UNHIT_SCRIPT });
    this.subscriber = createSubscriber(config, timeoutMs);
    this.reads = config.kind === 'cluster' ? undefined : new BatchedReads((keys) => this.deadlines.watch(this.client.mget(keys)));

    for (const conn of [this.client, this.subscriber]) {
      conn.on('ready', () => void this.establish());
      conn.on('close', () => this.lose());
      // ioredis reconnects by itself; an error while not trusted means we are serving from the database.
      conn.on('error', (error: Error) => {
        if (!this.trusted) this.reportDown('unreachable', String(error?.message ?? error));
      });
    }
    this.subscriber.on('message', (_channel: string, message: string) => this.events.invalidate(message.split(',')));
    // A Cluster failover closes no connection of ours: re-seal before reading the new master.
    onTopologyChange(this.client, () => {
      this.lose();
      void this.establish();
    });
  }

  start(): void {
    // Connection failures are not fatal: latchkey serves from the database meanwhile.
    this.client.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Entries may be read and written (connected, sealed, answering within the timeout). */
  get usable(): boolean {
    return this.trusted && !this.stalled;
  }

  /**
   * The invalidation channel is live and recently proven so: the in-process tier may be read.
   * Checked on every lookup, so it is two comparisons.
   */
  get coherent(): boolean {
    return this.trusted && Date.now() - this.leaseFrom < COHERENCE_LEASE_MS;
  }

  /**
   * Resolves true once the lease is renewed by a heartbeat answered from now on, false if none
   * is within REDIS_TIMEOUT. A lapse on a busy event loop (the answer is late to be read, not
   * late to come) then costs the waiting lookups one round trip, shared by all of them, instead
   * of a Redis read each: the in-process tier and what it keeps with its entries stay in use.
   */
  confirmCoherence(): Promise<boolean> {
    if (this.coherent) return Promise.resolve(true);
    if (!this.trusted) return Promise.resolve(false);
    if (!this.coherenceWait) {
      this.ping();
      let settle!: () => void;
      const promise = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => settle(), this.timeoutMs);
        settle = () => {
          clearTimeout(timer);
          this.coherenceWait = undefined;
          resolve(this.coherent);
        };
      });
      this.coherenceWait = { promise, settle };
    }
    return this.coherenceWait.promise;
  }

  /**
   * Subscribed on a sealed connection: no invalidation can be missed from now on without a
   * disconnect (which empties the in-process tier), so entries may be put into it.
   */
  get listening(): boolean {
    return this.trusted;
  }

  get(key: string): Promise<string | null> {
    return this.reads ? this.reads.get(this.prefix + key) : this.deadlines.watch(this.client.get(this.prefix + key));
  }

  async fill(key: string, value: string, ttlMs: number, deadlineMs: number): Promise<void> {
    await this.deadlines.watch(this.client.latchkeyFill(this.prefix + key, value, ttlMs, deadlineMs));
  }

  async tombstone(keys: string[], ttlMs: number): Promise<void> {
    // One key per script call so that Redis Cluster never sees keys of two slots together.
    await this.deadlines.watch(Promise.all(keys.map((key) => this.client.latchkeyTombstone(this.prefix + key, ttlMs, this.channel, key))));
  }

  /** Shared attempt counters for the rate limiter (SharedCounters). */
  async hit(key: string, windowMs: number): Promise<[number, number]> {
    const [count, ttl] = await this.deadlines.watch(this.client.latchkeyHit(this.prefix + key, windowMs));
    return [Number(count), Number(ttl)];
  }

  async unhit(key: string): Promise<void> {
    await this.deadlines.watch(this.client.latchkeyUnhit(this.prefix + key));
  }

  async peek(key: string): Promise<number> {
    return Number((await this.deadlines.watch(this.client.get(this.prefix + key))) ?? 0);
  }

  async reset(key: string): Promise<void> {
    await this.deadlines.watch(this.client.del(this.prefix + key));
  }

  /** Deletes cached entries and tombstones (keys `t:` and `s:`) on every master. */
  async clearCached(): Promise<number> {
    let removed = 0;
    const escaped = this.prefix.replace(/[*?[\]\\]/g, '\\$&');
    for (const node of this.masters()) {
      for (const kind of ['t', 's']) {
        const stream = node.scanStream({ match: `${escaped}${kind}:*`, count: 1000 });
        for await (const keys of stream as AsyncIterable<string[]>) {
          // One key per UNLINK: keys of one node still span many hash slots (CROSSSLOT).
          const results = keys.length > 0 ? await node.pipeline(keys.map((key) => ['unlink', key])).exec() : [];
          removed += (results ?? []).filter(([error, count]) => !error && count === 1).length;
        }
      }
    }
    return removed;
  }

  /**
   * Identity of the Redis data set: the run_ids of every master, which change when a server
   * restarts or a replica takes over (so a failover always starts a new cache epoch).
   */
  async runId(): Promise<string> {
    const ids = await Promise.all(this.masters().map(async (node) => /run_id:(\w+)/.exec(await node.info('server'))?.[1] ?? 'unknown'));
    return ids.sort().join(',');
  }

  close(): void {
    this.closed = true;
    this.trusted = false;
    clearInterval(this.heartbeat);
    // Not QUIT: the subscriber queues commands while disconnected, so a QUIT sent to a Redis
    // that is gone would wait for it forever. A cache connection has nothing to finish.
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private masters(): Redis[] {
    return (this.client as Cluster).isCluster ? (this.client as Cluster).nodes('master') : [this.client as Redis];
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
      this.stalled = false;
      this.unanswered = [];
      this.beat(); // the in-process tier waits for this first answer
      this.reportUp();
    } catch (error) {
      if (attempt !== this.attempt || this.closed) return;
      this.logger.warn({ event: 'redis_handshake_failed', err: String(error) }, 'Redis connected but could not be trusted yet; retrying in 1 s');
      setTimeout(() => void this.establish(), 1000).unref();
    }
  }

  private lose(): void {
    this.attempt++;
    this.trusted = false;
    this.unanswered = [];
    this.leaseFrom = 0;
    this.coherenceWait?.settle();
    this.events.disconnected();
    this.reportDown('disconnected');
  }

  /** Sends the next heartbeat, and notices when the oldest unanswered one is overdue. */
  private beat(): void {
    if (!this.trusted) return;
    const oldest = this.unanswered[0];
    if (oldest !== undefined && Date.now() - oldest > this.timeoutMs) {
      // Judge after pending I/O has been read: a blocked event loop is not a slow Redis.
      setImmediate(() => {
        if (this.trusted && this.unanswered[0] === oldest) this.stall('heartbeat');
      });
    }
    if (this.unanswered.length < MAX_UNANSWERED) this.ping();
    if (this.stalled) this.probe();
  }

  private ping(): void {
    const attempt = this.attempt;
    const sentAt = Date.now();
    this.unanswered.push(sentAt);
    const answered = (renewed: boolean) => {
      if (attempt !== this.attempt) return;
      const at = this.unanswered.indexOf(sentAt);
      if (at >= 0) this.unanswered.splice(at, 1);
      if (renewed && sentAt > this.leaseFrom) this.leaseFrom = sentAt;
      if (this.coherent) this.coherenceWait?.settle();
    };
    this.subscriber.ping().then(
      () => answered(true),
      () => answered(false),
    );
  }

  /** While stalled, one PING at a time on the command connection decides when Redis is back. */
  private probe(): void {
    if (this.probing) return;
    this.probing = true;
    const attempt = this.attempt;
    this.client
      .ping()
      .then(
        () => {
          const oldest = this.unanswered[0];
          const heartbeatOverdue = oldest !== undefined && Date.now() - oldest > this.timeoutMs;
          if (attempt !== this.attempt || !this.trusted || heartbeatOverdue) return;
          this.stalled = false;
          this.reportUp();
        },
        () => undefined,
      )
      .finally(() => {
        this.probing = false;
      });
  }

  private stall(reason: 'timeout' | 'heartbeat'): void {
    if (this.stalled) return;
    this.stalled = true;
    this.reportDown(reason, `no answer within REDIS_TIMEOUT (${this.timeoutMs} ms)`);
  }

  private reportDown(reason: string, detail?: string): void {
    if (this.health === 'down' || this.closed) return;
    this.health = 'down';
    this.logger.warn({ event: 'redis_down', reason, detail }, 'Redis unavailable: answering from the database until it is back');
  }

  private reportUp(): void {
    if (this.health === 'up' || this.closed) return;
    const first = this.health === 'starting';
    this.health = 'up';
    this.logger.info({ event: 'redis_up' }, first ? 'Redis connected' : 'Redis is back: serving from the cache again');
  }
}
