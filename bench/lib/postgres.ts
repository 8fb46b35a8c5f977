// The benchmark's PostgreSQL: a database of its own (created and dropped by the run), so that
// pg_stat_database counts only the statements the servers under test sent, and the seed of
// users and Sanctum-format tokens, written straight in SQL.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createPasswordHasher } from '../../src/core/passwords.js';
import { newSecret, sha256Hex } from '../../src/core/token-format.js';
import { migrateDatabase } from '../../src/store/migrate.js';
import { USER_MODEL } from '../../src/store/schema.js';

export const PG_ADMIN_URL = process.env.LATCHKEY_BENCH_PG_URL ?? process.env.LATCHKEY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchDatabase {
  name: string;
  url: string;
  /** Transactions committed or rolled back in this database (one per autocommit statement). */
  statements(): Promise<number>;
  /** Connections to this database, and those running a statement now (pg_stat_activity). */
  connections(): Promise<{ open: number; active: number }>;
  drop(): Promise<void>;
}

/**
 * The admin connection stays on the admin database: its own queries never land in the
 * benchmark database's counters.
 */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `latchkey_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async statements() {
      // Backends report their counters at most once a second (PostgreSQL 15), so callers read
      // this only after the load has been quiet for longer than that.
      const { rows } = await admin.query('select xact_commit + xact_rollback as n from pg_stat_database where datname = $1', [name]);
      return Number(rows[0].n);
    },
    async connections() {
      const { rows } = await admin.query("select count(*) as open, count(*) filter (where state = 'active') as active from pg_stat_activity where datname = $1", [name]);
      return { open: Number(rows[0].open), active: Number(rows[0].active) };
    },
    async drop() {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * A benchmark database with latchkey's tables, `count` users with one token each and
 * `extraUsers` without (for logins); every password is `password`, hashed at `bcryptRounds`.
 */
export async function seededBenchDatabase(count: number, extraUsers: number, bcryptRounds: number): Promise<{ database: BenchDatabase; tokens: SeededToken[] }> {
  const database = await createBenchDatabase();
  try {
    await migrateDatabase(database.url);
    const hasher = createPasswordHasher('bcrypt', bcryptRounds);
    const passwordHash = await hasher.hash('password').finally(() => hasher.close());
    return { database, tokens: await seed(database.url, count, passwordHash, extraUsers) };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

export interface SeededToken {
  userId: number;
  plainText: string;
}

/**
 * Users 1..count, each with one token (id = user id) in Sanctum 4 format; the database keeps
 * only the SHA-256. All users share one bcrypt hash of `password` (only logins read it).
 */
async function seed(url: string, count: number, passwordHash: string, extraUsers: number): Promise<SeededToken[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const utcNow = `(now() at time zone 'utc')`;
    await client.query(
      `insert into users (id, name, email, password, created_at, updated_at)
       select g, 'Bench User ' || g, 'user' || g || '@bench.test', $1, ${utcNow}, ${utcNow} from generate_series(1, $2::int) g`,
      [passwordHash, count + extraUsers],
    );
    await client.query(`select setval(pg_get_serial_sequence('users', 'id'), $1)`, [count + extraUsers]);
    // COPY from a stream: a million rows in seconds, never all in one statement's parameters.
    const tokens: SeededToken[] = [];
    const { rows } = await client.query(`select to_char(now() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS') as now, to_char((now() at time zone 'utc') + interval '1 day', 'YYYY-MM-DD HH24:MI:SS') as expires`);
    const { now, expires } = rows[0] as { now: string; expires: string };
    const copy = client.query(copyFrom('copy personal_access_tokens (id, tokenable_type, tokenable_id, name, token, abilities, expires_at, created_at, updated_at) from stdin'));
    const lines = (function* () {
      for (let id = 1; id <= count; id++) {
        const secret = newSecret('lk_');
        tokens.push({ userId: id, plainText: `${id}|${secret}` });
        yield `${id}\t${USER_MODEL.replaceAll('\\', '\\\\')}\t${id}\tbench\t${sha256Hex(secret)}\t["*"]\t${expires}\t${now}\t${now}\n`;
      }
    })();
    await pipeline(Readable.from(lines), copy);
    await client.query(`select setval(pg_get_serial_sequence('personal_access_tokens', 'id'), $1)`, [count]);
    await client.query('analyze');
    return tokens;
  } finally {
    await client.end();
  }
}
