// A Redis master, its replica and three sentinels (quorum 2) on free loopback ports, with short
// timeouts so that a failover takes about two seconds. Stopped by stop(), also on failure.
import { FAST_REPLICATION, RedisProcess, waitUntil } from './redis-cluster.js';

export const SENTINEL_NAME = 'latchkey-test';

export class RedisSentinelFixture {
  private constructor(
    readonly servers: RedisProcess[],
    readonly sentinels: RedisProcess[],
  ) {}

  static async start(): Promise<RedisSentinelFixture> {
    const servers: RedisProcess[] = [];
    const sentinels: RedisProcess[] = [];
    const fixture = new RedisSentinelFixture(servers, sentinels);
    try {
      const serverConfig = ['appendonly yes', 'appendfsync no', ...FAST_REPLICATION];
      const master = await RedisProcess.start(serverConfig);
      servers.push(master, await RedisProcess.start([...serverConfig, `replicaof 127.0.0.1 ${master.port}`]));
      const sentinelConfig = [
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      ];
      sentinels.push(...(await Promise.all([0, 1, 2].map(() => RedisProcess.start(sentinelConfig, { sentinel: true })))));
      await fixture.waitUntilHealthy();
      return fixture;
    } catch (error) {
      await fixture.stop();
      throw error;
    }
  }

  /** REDIS_SENTINELS for latchkey. */
  get addresses(): string {
    return this.sentinels.map((s) => s.address).join(',');
  }

  /** The server the sentinels name as master. */
  async master(): Promise<RedisProcess> {
    const [, port] = (await this.sentinels[0]!.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)) as [string, string];
    const master = this.servers.find((s) => s.port === Number(port));
    if (!master) throw new Error(`sentinels name an unknown master on port ${port}`);
    return master;
  }

  /** SENTINEL FAILOVER; resolves once the replica is master and the old master follows it. */
  async failover(): Promise<void> {
    const before = await this.master();
    await this.sentinels[0]!.command('SENTINEL', 'FAILOVER', SENTINEL_NAME);
    await waitUntil('the sentinels to name the new master', async () => (await this.master()) !== before);
    // Sentinel demotes the old master only at its next INFO round (every 10 s); do it now.
    await before.command('REPLICAOF', '127.0.0.1', (await this.master()).port);
    await this.waitUntilHealthy();
  }

  /** Every sentinel sees the master, the replica and the other sentinels; the replica is in sync. */
  async waitUntilHealthy(): Promise<void> {
    await waitUntil('sentinels and replica to settle', async () => {
      const master = await this.master();
      if ((await master.info('replication')).role !== 'master') return false;
      for (const sentinel of this.sentinels) {
        const state = (await sentinel.command('SENTINEL', 'MASTER', SENTINEL_NAME)) as string[];
        const field = (name: string) => Number(state[state.indexOf(name) + 1]);
        if (field('num-slaves') < 1 || field('num-other-sentinels') < this.sentinels.length - 1) return false;
      }
      const replicas = this.servers.filter((s) => s !== master && s.running);
      for (const replica of replicas) if ((await replica.info('replication')).master_link_status !== 'up') return false;
      return true;
    });
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.sentinels, ...this.servers].map((p) => p.stop()));
  }
}
