// A private redis-server for the benchmark, so that INFO counters and memory count only what
// the benchmark did (the shared Redis on 6379 serves the other engineers' tests meanwhile).
import { Redis } from 'ioredis';
import { freePort, startProcess, sleep, type Started } from './processes.js';

export interface PrivateRedis {
  port: number;
  url: string;
  client: Redis;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const server: Started = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {
    /* failures surface as rejected commands */
  });
  for (let attempt = 0; ; attempt++) {
    try {
      await client.connect();
      break;
    } catch (error) {
      if (attempt > 50 || server.child.exitCode !== null) {
        await server.stop();
        throw new Error(`redis-server did not start: ${String(error)}\n${server.output()}`);
      }
      await sleep(100);
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    async stop() {
      client.disconnect();
      await server.stop();
    },
  };
}

/** One section of INFO as numbers where they parse. */
export async function info(client: Redis, section: string): Promise<Record<string, string>> {
  const text = await client.info(section);
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Commands the server has processed so far (each INFO call adds one). */
export async function commandsProcessed(client: Redis): Promise<number> {
  return Number((await info(client, 'stats')).total_commands_processed);
}
