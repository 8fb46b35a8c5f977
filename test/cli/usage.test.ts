// docs/api.md §5 exit codes: 0 on success (--help included), 2 on bad usage, 1 on a failure with
// one clear line on standard error — bad configuration included (§1), never a stack trace.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isOneLineFailure, runCli } from './run-cli.js';

const COMMANDS = ['serve', 'migrate', 'tokens:prune', 'tokens:revoke', 'cache:clear', 'user:create'];

describe('help', () => {
  test('--help exits 0 and lists every command', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const command of COMMANDS) assert.match(result.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  test('each command has its own --help', async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([c, '--help'])));
    for (const [i, result] of results.entries()) {
      assert.equal(result.code, 0, `${COMMANDS[i]}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`Usage: latchkey ${COMMANDS[i]}`));
    }
    assert.match(results[3]!.stdout, /--user/);
    assert.match(results[3]!.stdout, /--all/);
    assert.match(results[2]!.stdout, /--hours/);
  });

  test('--version exits 0', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+/);
  });
});

// Each case is a separate process: run a few at once.
describe('bad usage exits 2', { concurrency: 4 }, () => {
  const cases: string[][] = [
    [],
    ['bogus'],
    ['migrate', '--bogus'],
    ['tokens:revoke'],
    ['tokens:revoke', '--user=1', '--all'],
    ['tokens:prune', '--hours=abc'],
    ['user:create'],
  ];
  for (const args of cases) {
    test(`latchkey ${args.join(' ')}`, async () => {
      const result = await runCli(args, { env: { DATABASE_URL: 'sqlite::memory:' } });
      assert.equal(result.code, 2, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
      assert.notEqual(result.stderr.trim(), '', 'says what is wrong');
      assert.doesNotMatch(result.stderr, /^\s+at /m);
    });
  }
});

describe('bad configuration exits 1 with one line naming the variable', { concurrency: 4 }, () => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ DATABASE_URL: 'foo://x' }, 'DATABASE_URL'],
    [{ PASSWORD_HASHER: 'md5' }, 'PASSWORD_HASHER'],
    [{ BCRYPT_ROUNDS: '-1' }, 'BCRYPT_ROUNDS'],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
  ];
  for (const [env, variable] of cases) {
    test(`${JSON.stringify(env)}`, async () => {
      const result = await runCli(['migrate'], { env: { DATABASE_URL: 'sqlite::memory:', ...env } });
      assert.ok(isOneLineFailure(result), `exit ${result.code}, stderr: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`\\b${variable}\\b`));
    });
  }

  test('a bad PRUNE_SCHEDULE stops serve', async () => {
    const result = await runCli(['serve'], { env: { DATABASE_URL: 'sqlite::memory:', PRUNE_SCHEDULE: 'every tuesday', PORT: '0', LOG_LEVEL: 'silent' } });
    assert.ok(isOneLineFailure(result), `exit ${result.code}, stderr: ${result.stderr}`);
    assert.match(result.stderr, /PRUNE_SCHEDULE/);
  });

  test('.env in the working directory is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'DATABASE_URL=sqlite::memory:\nPASSWORD_HASHER=sha1\n');
      const result = await runCli(['migrate'], { cwd: dir });
      assert.ok(isOneLineFailure(result), result.stderr);
      assert.match(result.stderr, /PASSWORD_HASHER/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unreachable database is one line naming DATABASE_URL, without its password', async () => {
    const result = await runCli(['migrate'], { env: { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' } });
    assert.ok(isOneLineFailure(result), result.stderr);
    assert.match(result.stderr, /DATABASE_URL/);
    assert.doesNotMatch(result.stderr, /hunter2/);
  });
});
