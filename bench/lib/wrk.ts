// Runs Debian's wrk with the token-rotating Lua script and reads back its one result line.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../rotate-tokens.lua', import.meta.url));

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
}

export interface WrkOptions {
  url: string;
  tokensFile: string;
  seconds: number;
  connections: number;
  threads: number;
  /** Where in the token list this run starts (consecutive runs continue the rotation). */
  offset?: number;
  /** Each request takes a token uniformly at random instead of the next one. */
  random?: boolean;
}

/** Installs wrk with apt-get when it is missing (the machine is Debian). */
export function ensureWrk(): void {
  if (hasWrk()) return;
  console.log('wrk is missing: installing it with apt-get (Debian package "wrk")');
  const aptArgs = ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', 'wrk'];
  const [command, args]: [string, string[]] = process.getuid?.() === 0 ? ['apt-get', aptArgs] : ['sudo', ['apt-get', ...aptArgs]];
  execFileSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!hasWrk()) throw new Error('wrk could not be installed; install it with `apt-get install wrk` and run again');
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // `wrk --version` exits 1 after printing its version: only ENOENT means it is missing.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--latency',
    '--timeout',
    '5s',
    '-s',
    SCRIPT,
    options.url,
    '--',
    options.tokensFile,
    String(options.offset ?? 0),
    String(options.threads),
    options.random ? 'random' : 'rotate',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = /WRK_RESULT (\{.*\})/.exec(out)?.[1];
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${out}`));
      const r = JSON.parse(line) as { requests: number; duration_us: number; non_2xx: number; socket_errors: number; p50_us: number; p99_us: number; max_us: number };
      const seconds = r.duration_us / 1e6;
      resolve({
        requests: r.requests,
        seconds,
        rps: r.requests / seconds,
        p50Ms: r.p50_us / 1000,
        p99Ms: r.p99_us / 1000,
        maxMs: r.max_us / 1000,
        non2xx: r.non_2xx,
        socketErrors: r.socket_errors,
      });
    });
  });
}

/** A fast run of 401s would be a lie: every response must have been a 2xx. */
export function assertAllOk(label: string, result: WrkResult): void {
  if (result.non2xx > 0 || result.socketErrors > 0 || result.requests === 0) {
    throw new Error(`${label}: ${result.non2xx} non-2xx responses and ${result.socketErrors} socket errors of ${result.requests}`);
  }
}

/**
 * Runs of `seconds` until every one of `tokens` has been presented at least once (at most
 * `maxRuns`): the caches are warm and the pools full. The rotation continues across runs.
 */
export async function warmUp(load: Omit<WrkOptions, 'seconds' | 'offset'>, tokens: number, label: string, seconds = 3, maxRuns = 5): Promise<void> {
  for (let presented = 0, run = 0; presented < tokens && run < maxRuns; run++) {
    const warm = await runWrk({ ...load, seconds, offset: Math.floor(presented / load.threads) });
    assertAllOk(label, warm);
    presented += warm.requests;
  }
}
