// `latchkey migrate` (twice is harmless, on all three databases, and an existing Laravel
// `users` table is left as it is) and `latchkey user:create` (password from standard input,
// exactly one trailing \n or \r\n stripped).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DB_KINDS, freshDatabase } from '../helpers/databases.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createPasswordHasher } from '../../src/core/passwords.js';
import { isOneLineFailure, runCli } from './run-cli.js';

const TABLES = ['users', 'personal_access_tokens', 'latchkey_sessions', 'latchkey_cache_state', 'latchkey_locks', 'latchkey_migrations'];

async function tablesOf(url: string): Promise<string[]> {
  const store = new SqlStore(url);
  try {
    // Only the tables of this database's default schema (the same filter latchkey's migrations use).
    const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
    const schema = store.dialect === 'postgres' ? 'public' : undefined;
    return tables.filter((t) => schema === undefined || t.schema === schema).map((t) => t.name);
  } finally {
    await store.close();
  }
}

describe('latchkey migrate', { concurrency: 2 }, () => {
  for (const kind of DB_KINDS) {
    test(`twice on ${kind}: creates the tables, then does nothing`, async () => {
      const database = await freshDatabase(kind);
      try {
        const env = { DATABASE_URL: database.url };
        const first = await runCli(['migrate'], { env });
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stdout, /Migrated/);
        const second = await runCli(['migrate'], { env });
        assert.equal(second.code, 0, second.stderr);
        assert.match(second.stdout, /Nothing to migrate/);
        const tables = await tablesOf(database.url);
        for (const table of TABLES) assert.ok(tables.includes(table), `${table} in ${tables.join(', ')}`);
      } finally {
        await database.drop();
      }
    });
  }

  test("keeps an existing Laravel users table and its rows", async () => {
    const database = await freshDatabase('sqlite');
    const store = new SqlStore(database.url);
    try {
      // Laravel's own migration, as SQLite spells it.
      await store.db.schema
        .createTable('users')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'varchar')
        .addColumn('email', 'varchar', (c) => c.notNull().unique())
        .addColumn('email_verified_at', 'datetime')
        .addColumn('password', 'varchar', (c) => c.notNull())
        .addColumn('remember_token', 'varchar')
        .addColumn('created_at', 'datetime')
        .addColumn('updated_at', 'datetime')
        .execute();
      await store.db.insertInto('users').values({ name: 'Taylor', email: 'Taylor@Laravel.com', password: 'x' }).execute();
      const result = await runCli(['migrate'], { env: { DATABASE_URL: database.url } });
      assert.equal(result.code, 0, result.stderr);
      const rows = await store.db.selectFrom('users').selectAll().execute();
      assert.deepEqual(rows.map((r) => [r.id, r.email]), [[1, 'Taylor@Laravel.com']]);
      assert.ok((await tablesOf(database.url)).includes('personal_access_tokens'));
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

describe('latchkey user:create', () => {
  test('reads the password from standard input, stripping exactly one trailing newline', async () => {
    const database = await freshDatabase('sqlite');
    const env = { DATABASE_URL: database.url };
    const store = new SqlStore(database.url);
    const hasher = createPasswordHasher('bcrypt', 4);
    try {
      const early = await runCli(['user:create', '--email=early@example.com'], { env, input: 'early password\n' });
      assert.ok(isOneLineFailure(early), early.stderr);
      assert.match(early.stderr, /latchkey migrate/);
      assert.equal((await runCli(['migrate'], { env })).code, 0);

      const cases: [string, string, string][] = [
        ['Ann.Admin@Example.com', 'secret password\n', 'secret password'],
        ['crlf@example.com', 'windows password\r\n', 'windows password'],
        ['two@example.com', 'two newlines pw\n\n', 'two newlines pw\n'],
        ['spaces@example.com', '  spaced out  \n', '  spaced out  '],
        ['none@example.com', 'no newline at all', 'no newline at all'],
      ];
      for (const [email, input, password] of cases) {
        const result = await runCli(['user:create', `--email=${email}`, '--name=Ann'], { env, input });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`Created user \\d+ \\(${email.toLowerCase().replace(/[.]/g, '\\.')}\\)`));
        const row = await store.users.findByEmail(email);
        assert.ok(row, email);
        assert.equal(row.email, email.toLowerCase(), 'stored trimmed and lower-cased');
        assert.equal(await hasher.verify(password, row.passwordHash), true, `${JSON.stringify(input)} -> ${JSON.stringify(password)}`);
        assert.equal(await hasher.verify(input, row.passwordHash), input === password, 'only the one newline was stripped');
      }
      const twice = await runCli(['user:create', '--email=ANN.ADMIN@example.com'], { env, input: 'another password\n' });
      assert.ok(isOneLineFailure(twice), twice.stderr);
      assert.match(twice.stderr, /already exists/);

      const short = await runCli(['user:create', '--email=short@example.com'], { env, input: 'short\n' });
      assert.ok(isOneLineFailure(short), short.stderr);
      assert.match(short.stderr, /password/);
      assert.equal(await store.users.findByEmail('short@example.com'), undefined);
    } finally {
      await hasher.close();
      await store.close();
      await database.drop();
    }
  });
});
