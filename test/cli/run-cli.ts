// Runs the `latchkey` command line as a user would: a separate Node process on src/cli/main.ts,
// with only the environment given (never the test runner's), in a chosen working directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Absolute, so the command also runs from a directory without node_modules.
const TSX = import.meta.resolve('tsx');
const TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to standard input, which is then closed. */
  input?: string;
}

/** What every command gets besides the test's own variables. */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', BCRYPT_ROUNDS: '4', PRUNE_SCHEDULE: 'off', ...env };
}

export function spawnCli(args: string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cliEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export { freePort } from '../helpers/ports.js';

/** Exit 1 with exactly one line on standard error and no stack trace. */
export function isOneLineFailure(result: CliResult): boolean {
  const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
  return result.code === 1 && lines.length === 1 && !/^\s+at /m.test(result.stderr);
}
