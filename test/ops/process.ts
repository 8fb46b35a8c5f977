// Runs the real `latchkey` command line as a child process (what the Dockerfile and compose.yaml
// run, from the TypeScript sources), for the tests that need a socket, signals or exit codes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';

export { freePort };

export const REPO = new URL('../..', import.meta.url).pathname;
/** The container runs dist/cli/main.js; the tests run the same CLI from source. */
export const CLI = ['--import', 'tsx', 'src/cli/main.ts'];


export interface TempSqlite {
  url: string;
  path: string;
  remove(): void;
}

export function tempSqlite(): TempSqlite {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-ops-'));
  const path = join(dir, 'latchkey.db');
  return { url: `sqlite:${path}`, path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for a child: no inherited latchkey settings, a .env-free working directory. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, BCRYPT_ROUNDS: '4', PRUNE_SCHEDULE: 'off', ...env };
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`, then killed and reported). */
export async function run(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Finished> {
  const child = spawn(process.execPath, args, { cwd: REPO, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  return finished(child, timeoutMs);
}

export function finished(child: ChildProcess, timeoutMs: number): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain before reporting.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

export interface Server {
  child: ChildProcess;
  port: number;
  base: string;
  /** Resolves when the process exits. */
  exited: Promise<Finished>;
}

/** Starts `latchkey serve` (or other args) and waits until it listens. */
export async function startServer(args: string[], env: Record<string, string>, startTimeoutMs = 20_000): Promise<Server> {
  const port = Number(env.PORT ?? (await freePort()));
  const child = spawn(process.execPath, args, { cwd: REPO, env: childEnv({ HOST: '127.0.0.1', ...env, PORT: String(port) }), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = finished(child, 120_000);
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + startTimeoutMs;
  while (Date.now() < until) {
    const up = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { child, port, base, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  const result = await exited;
  throw new Error(`latchkey did not start on port ${port}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}
