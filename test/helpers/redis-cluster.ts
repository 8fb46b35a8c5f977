// Real Redis topologies for the scale-out tests, built from `redis-server` processes on free
// loopback ports, each in its own temp directory: a 3-master / 3-replica Redis Cluster here,
// a Sentinel setup in redis-sentinel.ts. A missing binary or a node that never comes up fails
// the test loudly. Everything started is stopped by stop(), also when the test failed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const HOST = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 15_000;
/** Replicas sync at once instead of after Redis's default 5 s diskless-sync delay. */
export const FAST_REPLICATION = ['repl-diskless-sync yes', 'repl-diskless-sync-delay 0'];

/** Polls `check` every 50 ms until it returns true; throws `what` after the timeout. */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = STARTUP_TIMEOUT_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A free port whose cluster-bus twin (port + 10000) is free too. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('no free loopback port found for a test redis-server');
}

/** One redis-server (or sentinel) process with its own directory. */
export class RedisProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly configFile: string,
    private readonly sentinel: boolean,
  ) {}

  /** Starts redis-server (or `redis-server --sentinel`) with these config lines; resolves once it answers PING. */
  static async start(lines: string[], options: { sentinel?: boolean } = {}): Promise<RedisProcess> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-'));
    const configFile = join(dir, 'redis.conf');
    writeFileSync(configFile, [`port ${port}`, `bind ${HOST}`, `dir ${dir}`, 'save ""', ...lines, ''].join('\n'));
    const node = new RedisProcess(port, dir, configFile, options.sentinel ?? false);
    await node.spawn();
    return node;
  }

  /** Starts the process again on the same port and directory (after kill()). */
  async spawn(): Promise<void> {
    const args = this.sentinel ? [this.configFile, '--sentinel'] : [this.configFile];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run redis-server (is it installed?): ${e.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server on port ${this.port} exited with ${code} at start`)));
    });
    failed.catch(() => undefined);
    await Promise.race([failed, waitUntil(`redis-server on port ${this.port}`, () => this.ping())]);
  }

  client(): Redis {
    return new Redis({ host: HOST, port: this.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  }

  /** Runs one command on a short-lived connection. */
  async command(...args: (string | number)[]): Promise<unknown> {
    const client = this.client();
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await client.call(String(args[0]), ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  async info(section: string): Promise<Record<string, string>> {
    const text = String(await this.command('INFO', section));
    return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
  }

  get address(): string {
    return `${HOST}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9: no shutdown, no last write. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async ping(): Promise<boolean> {
    return (await this.command('PING')) === 'PONG';
  }
}

export interface ClusterNodeState {
  node: RedisProcess;
  role: 'master' | 'replica';
  /** For a replica, the port of its master. */
  masterPort?: number;
  inSync: boolean;
}

/** A 3-master / 3-replica Redis Cluster with a short node timeout so failovers take ~2 s. */
export class RedisClusterFixture {
  private constructor(readonly nodes: RedisProcess[]) {}

  static async start(): Promise<RedisClusterFixture> {
    const nodes: RedisProcess[] = [];
    const fixture = new RedisClusterFixture(nodes);
    try {
      const config = ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 1000', 'appendonly yes', 'appendfsync no', ...FAST_REPLICATION];
      nodes.push(...(await Promise.all(Array.from({ length: 6 }, () => RedisProcess.start(config)))));
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: STARTUP_TIMEOUT_MS,
      });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.error?.message ?? ''}${create.stdout}${create.stderr}`);
      await fixture.waitUntilHealthy();
      return fixture;
    } catch (error) {
      await fixture.stop();
      throw error;
    }
  }

  /** REDIS_CLUSTER_NODES for latchkey. */
  get seeds(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  /** Every running node's own view of its role (INFO replication is authoritative, gossip lags). */
  async topology(): Promise<ClusterNodeState[]> {
    return Promise.all(
      this.nodes
        .filter((n) => n.running)
        .map(async (node) => {
          const info = await node.info('replication');
          return info.role === 'master'
            ? { node, role: 'master' as const, inSync: true }
            : { node, role: 'replica' as const, masterPort: Number(info.master_port), inSync: info.master_link_status === 'up' };
        }),
    );
  }

  /** A live master and its live, in-sync replica. */
  async pair(): Promise<{ master: RedisProcess; replica: RedisProcess }> {
    const nodes = await this.topology();
    for (const master of nodes.filter((n) => n.role === 'master')) {
      const replica = nodes.find((n) => n.masterPort === master.node.port && n.inSync);
      if (replica) return { master: master.node, replica: replica.node };
    }
    throw new Error('no master with a live replica');
  }

  /** CLUSTER FAILOVER on the replica (no data loss); resolves once it is master and the cluster is ok. */
  async failover(replica: RedisProcess): Promise<void> {
    await replica.command('CLUSTER', 'FAILOVER');
    await waitUntil('the replica to take over', async () => (await replica.info('replication')).role === 'master');
    await this.waitUntilHealthy();
  }

  /** kill -9 the master; resolves once its replica took over and the cluster is ok again. */
  async killMaster(master: RedisProcess, replica: RedisProcess): Promise<void> {
    await master.kill();
    await waitUntil('the replica to be promoted after its master was killed', async () => (await replica.info('replication')).role === 'master');
    await this.waitUntilHealthy();
  }

  /** Starts a killed node again; it rejoins as a replica of whoever took over its slots. */
  async restart(node: RedisProcess): Promise<void> {
    await node.spawn();
    await this.waitUntilHealthy();
  }

  /** The running node that serves pub/sub connections (latchkey's invalidation subscribers). */
  async subscriberHost(): Promise<ClusterNodeState | undefined> {
    for (const state of await this.topology()) {
      if (String(await state.node.command('CLIENT', 'LIST', 'TYPE', 'pubsub')).trim() !== '') return state;
    }
    return undefined;
  }

  /** Every running node reports cluster_state:ok, every running replica is in sync. */
  async waitUntilHealthy(): Promise<void> {
    await waitUntil('cluster_state:ok on every node', async () => {
      for (const node of this.nodes.filter((n) => n.running)) {
        if (!/cluster_state:ok/.test(String(await node.command('CLUSTER', 'INFO')))) return false;
      }
      return (await this.topology()).every((n) => n.inSync);
    });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
  }
}
