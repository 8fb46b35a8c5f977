// What the soak runs against: a private PostgreSQL cluster and a private redis-server (appendonly,
// so it can restart from its AOF), both on free loopback ports so they can be stopped, and two
// latchkey instances started as real processes through the CLI (`latchkey serve`). Instance B
// reaches Redis through a TCP proxy, so the soak can cut B alone from Redis.
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { startRedisServer, type RedisServer } from '../../test/helpers/redis-server.js';
import { TcpProxy } from '../../test/helpers/tcp-proxy.js';
import { freePort, startProcess, waitUntilHealthy, type Started } from '../lib/processes.js';
import type { Instance } from './load.js';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.js';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const DATABASE = 'latchkey_soak';

export interface RunningInstance extends Instance {
  process: Started;
  /** Everything the process wrote to stdout and stderr. */
  logPath: string;
  /** Lines of its output that mention an unhandled error or rejection. */
  unhandled: string[];
}

export interface SoakStack {
  postgres: PostgresCluster;
  databaseUrl: string;
  redis: RedisServer;
  /** Between instance B and Redis. */
  proxy: TcpProxy;
  instances: RunningInstance[];
  /** Where the logs are; kept when the soak fails. */
  dir: string;
  close(options: { keepLogs: boolean }): Promise<void>;
}

export async function startStack(): Promise<SoakStack> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-soak-'));
  const undo: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgresCluster();
    undo.push(() => postgres.close());
    const admin = new pg.Client({ connectionString: postgres.url('postgres') });
    await admin.connect();
    await admin.query(`create database ${DATABASE}`).finally(() => admin.end());
    const databaseUrl = postgres.url(DATABASE);

    const redis = await startRedisServer();
    undo.push(() => redis.close());
    const proxy = await TcpProxy.start({ port: redis.port });
    undo.push(() => proxy.close());

    const instances: RunningInstance[] = [];
    undo.push(() => Promise.all(instances.map((i) => i.process.stop())));
    // One after the other: each migrates at start, and two migrations at once would race.
    for (const [name, redisUrl] of [
      ['A', redis.url],
      ['B', `redis://127.0.0.1:${proxy.port}`],
    ] as const) {
      instances.push(await startInstance(name, { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }, dir));
    }
    return {
      postgres,
      databaseUrl,
      redis,
      proxy,
      instances,
      dir,
      async close({ keepLogs }) {
        for (const step of undo.reverse()) await step().catch(() => undefined);
        if (!keepLogs) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startInstance(name: string, env: Record<string, string>, dir: string): Promise<RunningInstance> {
  const port = await freePort();
  const started = startProcess(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'serve'], {
    ...env,
    HOST: '127.0.0.1',
    PORT: String(port),
    CACHE_PREFIX: 'soak:',
    // Cheap hashes: the soak is about faults and revocation, not about bcrypt's CPU.
    BCRYPT_ROUNDS: '4',
    PRUNE_SCHEDULE: 'off',
    // Warnings and errors only (outages, unhandled errors); access logs would be most of the output.
    LOG_LEVEL: 'warn',
    // The load gives each registration a client address of its own in X-Forwarded-For.
    TRUST_PROXY: 'true',
  });
  const logPath = join(dir, `instance-${name}.log`);
  const log: WriteStream = createWriteStream(logPath);
  const unhandled: string[] = [];
  for (const stream of [started.child.stdout!, started.child.stderr!]) {
    stream.pipe(log, { end: false });
    // Fastify's error handler logs 'Unhandled error'; Node prints UnhandledPromiseRejection.
    createInterface({ input: stream }).on('line', (line) => {
      if (/unhandled/i.test(line)) unhandled.push(line);
    });
  }
  started.child.once('exit', () => log.end());
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitUntilHealthy(started, `${base}/readyz`, 60_000);
  } catch (error) {
    await started.stop();
    throw error;
  }
  return { name, base, process: started, logPath, unhandled };
}
