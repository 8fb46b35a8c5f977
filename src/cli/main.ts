#!/usr/bin/env node
// `latchkey` command line (docs/api.md §5). Exit 0 on success, 1 on a failure with one clear line
// on standard error, 2 on bad usage.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, MAX_PRUNE_HOURS, loadConfig, redactUrl, type Config } from '../config.js';
import { AppError, UnavailableError } from '../core/errors.js';

function config(): Config {
  return loadConfig();
}

// The commands load the whole server (drivers, Fastify, native hashers) only when one runs, so
// --help, bad usage and bad configuration answer at once.
const commands = () => import('./commands.js');

/** A command's one line of result. */
function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function program(): Command {
  const cli = new Command('latchkey')
    .description('Authentication server for APIs: bearer tokens and cookie sessions in SQL, cached in Redis')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  cli
    .command('serve')
    .description('run the HTTP server (migrates the database first unless --no-migrate)')
    .option('--no-migrate', 'refuse to start if migrations have not run instead of running them')
    .action(async (options: { migrate: boolean }) => {
      const settings = config();
      const { serve } = await import('./serve.js');
      await serve(settings, { migrate: options.migrate });
    });

  cli
    .command('migrate')
    .description('create or update the tables (safe to run again)')
    .action(async () => {
      const settings = config();
      print(await (await commands()).migrateCommand(settings));
    });

  cli
    .command('tokens:prune')
    .description('delete tokens (and sessions) expired for more than N hours')
    .addOption(new Option('--hours <n>', 'grace period in hours (default: PRUNE_HOURS)').argParser(nonNegativeInteger))
    .action(async (options: { hours?: number }) => {
      const settings = config();
      print(await (await commands()).tokensPrune(settings, options.hours));
    });

  cli
    .command('tokens:revoke')
    .description("revoke a user's tokens and sessions, or everyone's, in the database and the cache")
    .addOption(new Option('--user <id-or-email>', 'the user, by id or email').conflicts('all'))
    .addOption(new Option('--all', 'every token and session of every user'))
    .action(async (options: { user?: string; all?: boolean }) => {
      if (!options.user && !options.all) throw new CommanderError(2, 'latchkey.usage', 'error: give --user=<id or email> or --all\n');
      const settings = config();
      print(await (await commands()).tokensRevoke(settings, options));
    });

  cli
    .command('cache:clear')
    .description("drop latchkey's cached tokens, sessions and users (nothing else in Redis)")
    .action(async () => {
      const settings = config();
      print(await (await commands()).cacheClear(settings));
    });

  cli
    .command('user:create')
    .description('create a user; the password is read from standard input')
    .requiredOption('--email <email>', 'email address')
    .option('--name <name>', 'display name')
    .action(async (options: { email: string; name?: string }) => {
      const settings = config();
      print(await (await commands()).userCreate(settings, options));
    });

  return cli;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > MAX_PRUNE_HOURS) throw new InvalidArgumentError(`Expected a whole number of hours from 0 to ${MAX_PRUNE_HOURS}.`);
  return Number(value);
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, `help` and --version succeed (exit code 0); no command at all is bad usage.
      if (error.exitCode === 0) return 0;
      if (error.code === 'latchkey.usage') process.stderr.write(error.message);
      return 2;
    }
    process.stderr.write(`latchkey: ${await describe(error)}\n`);
    return 1;
  }
}

async function describe(error: unknown): Promise<string> {
  if (error instanceof ConfigError) return `configuration error: ${error.message}`;
  const [{ CliError }, { isUnavailable }] = await Promise.all([commands(), import('../store/failures.js')]);
  if (error instanceof CliError) return error.message;
  if (error instanceof UnavailableError) return unreachable(error.causeError);
  if (error instanceof AppError) {
    const fields = error.fields ? ` (${Object.entries(error.fields).map(([f, p]) => `${f} ${p}`).join('; ')})` : '';
    return `${error.message}${fields}`;
  }
  if (isUnavailable(error)) return unreachable(error);
  const e = error as { message?: string };
  return e?.message ? e.message.split('\n')[0]! : String(error);
}

function unreachable(cause: unknown): string {
  const e = cause as { code?: string; message?: string; sqlState?: string; severity?: string } | undefined;
  // A server that answered (a wrong database, user or password) says it best in its own words.
  if (e?.message && (typeof e.sqlState === 'string' || typeof e.severity === 'string')) return e.message.split('\n')[0]!;
  const code = e?.code;
  const url = redactUrl(process.env.DATABASE_URL ?? 'sqlite:./data/latchkey.db');
  return `cannot reach the database${code ? ` (${code})` : ''}: check DATABASE_URL (${url})`;
}

// Run only when executed (directly or through the npm bin link), not when imported by tests.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv);
  // serve keeps running until a signal; every other command ends here.
  if (code !== 0 || process.argv[2] !== 'serve') process.exit(code);
}
