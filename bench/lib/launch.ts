// How `npm run bench` starts the servers it measures: latchkey through its real CLI, and the
// comparison servers of bench/servers/baseline.ts, each on a free loopback port, all on the run's
// database and private Redis. Every stage starts what it needs through these, so the setups match.
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, waitUntilHealthy, type Started } from './processes.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RAW = `${ROOT}bench/results/raw`;
export const JWT_SECRET = 'bench-only-secret-0123456789abcdef0123456789abcdef';

export interface Running {
  server: Started;
  port: number;
  pid: number;
  url(path: string): string;
}

export interface Launcher {
  /** A comparison server of bench/servers/baseline.ts; `bare` runs it on a bare Fastify. */
  baseline(mode: string, options?: { bare?: boolean; env?: NodeJS.ProcessEnv }): Promise<Running>;
  /** latchkey's CLI (`serve`), its cache under CACHE_PREFIX `bench_<name>:`. */
  latchkey(name: string, env?: NodeJS.ProcessEnv, nodeOptions?: string[]): Promise<Running>;
  /** Stops everything started so far. */
  stopAll(): Promise<void>;
}

export interface LaunchSettings {
  databaseUrl: string;
  redisUrl: string;
  bcryptRounds: number;
  /** Node options for every server (e.g. --cpu-prof). */
  nodeOptions: string[];
  /** Start-up time allowed (the seed-design server preloads every token into Redis). */
  healthyTimeoutMs?: number;
}

export function launcher(settings: LaunchSettings): Launcher {
  const started: Started[] = [];
  const start = async (script: string[], env: NodeJS.ProcessEnv, nodeOptions: string[]): Promise<Running> => {
    const port = await freePort();
    const server = startProcess('node', [...settings.nodeOptions, ...nodeOptions, '--import', 'tsx', `${ROOT}${script[0]}`, ...script.slice(1)], {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: settings.databaseUrl,
      REDIS_URL: settings.redisUrl,
      LOG_LEVEL: 'warn',
      ...env,
    });
    started.push(server);
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;
    await waitUntilHealthy(server, url('/healthz'), settings.healthyTimeoutMs);
    return { server, port, pid: server.child.pid!, url };
  };
  return {
    baseline: (mode, options = {}) =>
      start(['bench/servers/baseline.ts', mode, ...(options.bare ? ['--bare'] : [])], { JWT_SECRET, REDIS_PREFIX: `bench_seed_${mode}:`, ...options.env }, []),
    latchkey: (name, env = {}, nodeOptions = []) =>
      start(['src/cli/main.ts', 'serve', '--no-migrate'], { CACHE_PREFIX: `bench_${name}:`, BCRYPT_ROUNDS: String(settings.bcryptRounds), PRUNE_SCHEDULE: 'off', ...env }, nodeOptions),
    async stopAll() {
      for (const server of started.splice(0)) await server.stop();
    },
  };
}
