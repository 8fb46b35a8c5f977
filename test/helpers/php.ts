// Runs PHP for the Laravel interop tests. PHP must be installed (npm test installs php-cli as root); a
// missing `php` fails these tests rather than skipping them.
import { spawn } from 'node:child_process';

/** Runs `php -r code`; `input` is handed to the script as JSON on standard input. */
export async function php(code: string, input: unknown = null): Promise<string> {
  const child = spawn('php', ['-r', code], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`cannot run php (install php-cli; npm test does as root): ${error.message}`)));
    child.on('close', resolve);
  });
  child.stdin.on('error', () => undefined).end(JSON.stringify(input));
  const code_ = await exit;
  if (code_ !== 0) throw new Error(`php exited ${code_}: ${stderr}${stdout}`);
  return stdout;
}

