// The one-shot commands of API.md §5. Each opens latchkey, does one thing, closes everything it
// opened and returns its one line of result, which main.ts prints on standard output.
import type { Config } from '../config.js';
import { pruneExpired } from '../core/prune.js';
import type { UserWithPassword } from '../core/types.js';
import { createLogger } from '../observability/logger.js';
import { openLatchkey, type Latchkey } from '../latchkey.js';
import { isMigrated, migrateDatabase } from '../store/migrate.js';
import { SqlStore } from '../store/sql-store.js';

/** A failure the user can act on: printed as one line, exit 1. */
export class CliError extends Error {}

/** How long a command waits for Redis before it falls back to invalidating through the epoch. */
const REDIS_WAIT_MS = 2000;

async function withLatchkey<T>(config: Config, work: (latchkey: Latchkey) => Promise<T>): Promise<T> {
  await requireMigrated(config);
  const latchkey = await openLatchkey(config, { logger: createLogger('silent'), announceByEpoch: true });
  try {
    if (config.redis) await latchkey.cache.waitForRedis(REDIS_WAIT_MS);
    return await work(latchkey);
  } finally {
    await latchkey.close();
  }
}

/** One-shot commands never change the schema behind the user's back; they say what to run. */
async function requireMigrated(config: Config): Promise<void> {
  const store = new SqlStore(config.databaseUrl);
  try {
    if (!(await isMigrated(store.db, store.dialect))) throw new CliError('the database is not migrated: run `latchkey migrate` first');
  } finally {
    await store.close();
  }
}

export async function migrateCommand(config: Config): Promise<string> {
  const ran = await migrateDatabase(config.databaseUrl);
  return ran.length === 0 ? 'Nothing to migrate: the tables are up to date.' : `Migrated: ${ran.join(', ')}`;
}

export async function tokensPrune(config: Config, hours = config.pruneHours): Promise<string> {
  return withLatchkey(config, async ({ store }) => {
    const progress = progressReporter();
    const result = await pruneExpired(store, config, hours, progress.update);
    progress.done();
    return `Pruned ${result.tokens} tokens and ${result.sessions} sessions expired for more than ${hours} hours (${result.ms} ms).`;
  });
}

export async function tokensRevoke(config: Config, options: { user?: string; all?: boolean }): Promise<string> {
  return withLatchkey(config, async ({ store, cache }) => {
    if (options.all) {
      const counts = await store.revokeEveryone();
      await cache.bumpEpoch(); // every cached entry of every instance is now worthless
      return `Revoked ${counts.tokens} tokens and ${counts.sessions} sessions of every user.`;
    }
    const who = options.user!.trim();
    // Digits name an id (one too large to count exactly names nobody); anything else is an email.
    let user: UserWithPassword | undefined;
    if (!/^\d+$/.test(who)) user = await store.findUserByEmail(who);
    else if (Number.isSafeInteger(Number(who))) user = await store.findUserById(Number(who));
    if (!user) throw new CliError(`no user with id or email "${who}"`);
    const revoked = await store.revokeUser(user.id);
    await cache.forget(revoked);
    return `Revoked ${revoked.tokens.length} tokens and ${revoked.sessions.length} sessions of user ${user.id} (${user.email}).`;
  });
}

export async function cacheClear(config: Config): Promise<string> {
  return withLatchkey(config, async ({ cache }) => {
    if (config.redis && cache.status() !== 'up') {
      await cache.bumpEpoch();
      return 'Redis is unreachable: cached entries were invalidated through the database epoch and expire by themselves.';
    }
    const removed = await cache.clear();
    return config.redis ? `Cleared ${removed} cached keys from Redis; every instance re-reads from the database.` : 'Cleared the in-process caches of running instances.';
  });
}

export async function userCreate(config: Config, options: { email: string; name?: string }): Promise<string> {
  const password = await readPassword();
  return withLatchkey(config, async ({ auth }) => {
    const { user } = await auth.createUser({ email: options.email, name: options.name ?? null, password });
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
