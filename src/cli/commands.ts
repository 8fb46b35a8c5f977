// The one-shot commands (docs/api.md §5). Each opens latchkey, does one thing, closes everything it
// opened and returns its one line of result, which main.ts prints on standard output.
import type { Config } from '../config.js';
import type { UserWithPassword } from '../core/types.js';
import { createLogger } from '../observability/logger.js';
import { openLatchkey, type Latchkey } from '../latchkey.js';
import { assertMigrated, migrateDatabase } from '../store/migrate.js';

/** A failure the user can act on: printed as one line, exit 1. */
export class CliError extends Error {}

/** How long a command waits for Redis before it falls back to invalidating through the epoch. */
const REDIS_WAIT_MS = 2000;

async function withLatchkey<T>(config: Config, work: (latchkey: Latchkey) => Promise<T>): Promise<T> {
  // One-shot commands never change the schema behind the user's back; they say what to run.
  await assertMigrated(config.databaseUrl, 'run `latchkey migrate` first');
  const latchkey = await openLatchkey(config, { logger: createLogger('silent'), announceByEpoch: true });
  try {
    if (config.redis) await latchkey.cache.waitForRedis(REDIS_WAIT_MS);
    return await work(latchkey);
  } finally {
    await latchkey.close();
  }
}

export async function migrateCommand(config: Config): Promise<string> {
  const ran = await migrateDatabase(config.databaseUrl);
  return ran.length === 0 ? 'Nothing to migrate: the tables are up to date.' : `Migrated: ${ran.join(', ')}`;
}

export async function tokensPrune(config: Config, hours = config.pruneHours): Promise<string> {
  return withLatchkey(config, async ({ credentials }) => {
    const progress = progressReporter();
    const result = await credentials.prune(hours, progress.update);
    progress.done();
    return `Pruned ${result.tokens} tokens and ${result.sessions} sessions expired for more than ${hours} hours (${result.ms} ms).`;
  });
}

export async function tokensRevoke(config: Config, options: { user?: string; all?: boolean }): Promise<string> {
  return withLatchkey(config, async ({ store, credentials }) => {
    if (options.all) {
      const counts = await credentials.revoke({ everyone: true });
      return `Revoked ${counts.tokens} tokens and ${counts.sessions} sessions of every user.`;
    }
    const who = options.user!.trim();
    // Digits name an id (one too large to count exactly names nobody); anything else is an email.
    let user: UserWithPassword | undefined;
    if (!/^\d+$/.test(who)) user = await store.users.findByEmail(who);
    else if (Number.isSafeInteger(Number(who))) user = await store.users.findById(Number(who));
    if (!user) throw new CliError(`no user with id or email "${who}"`);
    const revoked = await credentials.revoke({ user: user.id });
    return `Revoked ${revoked.tokens} tokens and ${revoked.sessions} sessions of user ${user.id} (${user.email}).`;
  });
}

export async function cacheClear(config: Config): Promise<string> {
  return withLatchkey(config, async ({ cache, credentials }) => {
    const redisUp = cache.status() === 'up';
    const removed = await credentials.clearCache();
    if (config.redis && !redisUp) return 'Redis is unreachable: cached entries were invalidated through the database epoch and expire by themselves.';
    return config.redis ? `Cleared ${removed} cached keys from Redis; every instance re-reads from the database.` : 'Cleared the in-process caches of running instances.';
  });
}

export async function userCreate(config: Config, options: { email: string; name?: string }): Promise<string> {
  const password = await readPassword();
  return withLatchkey(config, async ({ accounts }) => {
    const user = await accounts.createUser({ email: options.email, name: options.name ?? null, password });
    return `Created user ${user.id} (${user.email}).`;
  });
}

/** The whole of standard input, less one trailing newline (\n or \r\n). */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (end with Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A live count on a terminal; a plain line at most every second otherwise. */
function progressReporter() {
  const tty = process.stderr.isTTY;
  let last = 0;
  let shown = false;
  return {
    update(deleted: number) {
      const now = Date.now();
      if (tty) {
        process.stderr.write(`\rDeleted ${deleted} tokens…`);
        shown = true;
      } else if (now - last >= 1000) {
        process.stderr.write(`deleted ${deleted} tokens so far\n`);
        last = now;
      }
    },
    done() {
      if (tty && shown) process.stderr.write('\n');
    },
  };
}
