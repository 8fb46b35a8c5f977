// The benchmark's PostgreSQL: a database of its own (created and dropped by the run), so that
// pg_stat_database counts only the statements the servers under test sent, and the seed of
// users and Sanctum-format tokens, written straight in SQL.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
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
    const tokens: SeededToken[] = [];
    const hashes: string[] = [];
    for (let id = 1; id <= count; id++) {
      const secret = newSecret('lk_');
      tokens.push({ userId: id, plainText: `${id}|${secret}` });
      hashes.push(sha256Hex(secret));
    }
    await client.query(
      `insert into personal_access_tokens (id, tokenable_type, tokenable_id, name, token, abilities, expires_at, created_at, updated_at)
       select n, $1, n, 'bench', h, '["*"]', ${utcNow} + interval '1 day', ${utcNow}, ${utcNow}
       from unnest($2::text[]) with ordinality as t(h, n)`,
      [USER_MODEL, hashes],
    );
    await client.query(`select setval(pg_get_serial_sequence('personal_access_tokens', 'id'), $1)`, [count]);
    await client.query('analyze');
    return tokens;
  } finally {
    await client.end();
  }
}
