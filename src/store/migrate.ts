// Creates Laravel's `users` and Sanctum's `personal_access_tokens` (only when missing, so an
// existing Laravel database is left as it is) and latchkey's own tables. Kysely's Migrator
// records what ran in `latchkey_migrations`, under a lock, so running it twice is harmless.
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { connect, type Connection, type DialectName } from './connect.js';
import type { Database } from './schema.js';
import { toSqlTime } from './time.js';

type Db = Kysely<any>;

/**
 * The PostgreSQL schema that unqualified names resolve to (from `search_path`). Kysely's
 * PostgreSQL introspection lists the tables of every schema, so without it a `users` table in
 * another schema of the same database would pass for ours. MySQL's is already per database.
 */
async function currentSchema(db: Db, dialect: DialectName): Promise<string | undefined> {
  if (dialect !== 'postgres') return undefined;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return rows[0]?.schema;
}

async function tableExists(db: Db, name: string, schema: string | undefined): Promise<boolean> {
  if (schema !== undefined) {
    // Asked of this schema only: introspection reads every schema's catalog, slowly, and fails
    // when another program drops a schema meanwhile.
    const { rows } = await sql`select 1 from information_schema.tables where table_schema = ${schema} and table_name = ${name}`.execute(db);
    return rows.length > 0;
  }
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  return tables.some((t) => t.name === name);
}

function migrations(dialect: DialectName, schema: string | undefined): Record<string, Migration> {
  // Each dialect spells an auto-increment BIGINT key differently.
  const idType = dialect === 'postgres' ? 'bigserial' : dialect === 'sqlite' ? 'integer' : sql`bigint unsigned`;
  const bigint = dialect === 'mysql' ? sql`bigint unsigned` : 'bigint';
  const id = (c: any) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  const timestamp = dialect === 'postgres' ? sql`timestamp(0) without time zone` : dialect === 'mysql' ? sql`timestamp null` : 'text';
  const requiredTimestamp = dialect === 'mysql' ? sql`timestamp` : timestamp;
  // Laravel's MySQL tables are utf8mb4_unicode_ci; a server whose default is latin1 would
  // refuse emoji and compare emails differently.
  const createTable = (db: Db, name: string) => {
    const builder = db.schema.createTable(name);
    return dialect === 'mysql' ? builder.modifyEnd(sql`default character set utf8mb4 collate utf8mb4_unicode_ci`) : builder;
  };

  return {
    '2026_11_30_000001_laravel_tables': {
      async up(db: Db) {
        if (!(await tableExists(db, 'users', schema))) {
          await createTable(db, 'users')
            .addColumn('id', idType as any, id)
            .addColumn('name', 'varchar(255)')
            .addColumn('email', 'varchar(255)', (c) => c.notNull().unique())
            .addColumn('email_verified_at', timestamp as any)
            .addColumn('password', 'varchar(255)', (c) => c.notNull())
            .addColumn('remember_token', 'varchar(100)')
            .addColumn('created_at', timestamp as any)
            .addColumn('updated_at', timestamp as any)
            .execute();
        }
        if (!(await tableExists(db, 'personal_access_tokens', schema))) {
          await createTable(db, 'personal_access_tokens')
            .addColumn('id', idType as any, id)
            .addColumn('tokenable_type', 'varchar(255)', (c) => c.notNull())
            .addColumn('tokenable_id', bigint as any, (c) => c.notNull())
            .addColumn('name', 'text', (c) => c.notNull())
            .addColumn('token', 'varchar(64)', (c) => c.notNull().unique())
            .addColumn('abilities', 'text')
            .addColumn('last_used_at', timestamp as any)
            .addColumn('expires_at', timestamp as any)
            .addColumn('created_at', timestamp as any)
            .addColumn('updated_at', timestamp as any)
            .execute();
          await db.schema
            .createIndex('personal_access_tokens_tokenable_type_tokenable_id_index')
            .on('personal_access_tokens')
            .columns(['tokenable_type', 'tokenable_id'])
            .execute();
          await db.schema.createIndex('personal_access_tokens_expires_at_index').on('personal_access_tokens').column('expires_at').execute();
        }
      },
    },
    '2026_11_30_000002_latchkey_tables': {
      async up(db: Db) {
        // Emails are compared case-insensitively. MySQL/MariaDB collations already are; the
        // others get an index on lower(email) (not unique: Laravel data may hold case twins).
        if (dialect !== 'mysql') {
          await sql`create index latchkey_users_email_lower on users (lower(email))`.execute(db);
        }
        await createTable(db, 'latchkey_sessions')
          .addColumn('id', idType as any, id)
          .addColumn('user_id', bigint as any, (c) => c.notNull())
          .addColumn('secret_hash', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('ip', 'varchar(45)')
          .addColumn('user_agent', 'text')
          .addColumn('created_at', requiredTimestamp as any, (c) => c.notNull())
          .addColumn('last_active_at', requiredTimestamp as any, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('latchkey_sessions_user_id_index').on('latchkey_sessions').column('user_id').execute();
        await db.schema.createIndex('latchkey_sessions_last_active_at_index').on('latchkey_sessions').column('last_active_at').execute();
        await createTable(db, 'latchkey_cache_state')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('epoch', bigint as any, (c) => c.notNull())
          .addColumn('redis_run_id', 'varchar(255)')
          .addColumn('updated_at', requiredTimestamp as any, (c) => c.notNull())
          .execute();
        await db
          .insertInto('latchkey_cache_state')
          .values({ id: 1, epoch: 1, redis_run_id: null, updated_at: toSqlTime(Date.now()) })
          .execute();
        await createTable(db, 'latchkey_locks')
          .addColumn('name', 'varchar(191)', (c) => c.primaryKey())
          .addColumn('holder', 'varchar(191)', (c) => c.notNull())
          .addColumn('expires_at', requiredTimestamp as any, (c) => c.notNull())
          .execute();
      },
    },
    '2026_12_04_000003_recovery_tables': {
      async up(db: Db) {
        // Laravel's own migration creates it in most apps: left as it is when present.
        if (!(await tableExists(db, 'password_reset_tokens', schema))) {
          await createTable(db, 'password_reset_tokens')
            .addColumn('email', 'varchar(255)', (c) => c.primaryKey())
            .addColumn('token', 'varchar(255)', (c) => c.notNull())
            .addColumn('created_at', timestamp as any)
            .execute();
        }
        await createTable(db, 'latchkey_mail_outbox')
          .addColumn('id', idType as any, id)
          .addColumn('template', 'varchar(64)', (c) => c.notNull())
          .addColumn('recipient', 'varchar(255)', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', requiredTimestamp as any, (c) => c.notNull())
          .addColumn('lease_holder', 'varchar(64)')
          .addColumn('lease_until', timestamp as any)
          .addColumn('failed_at', timestamp as any)
          .addColumn('last_error', 'text')
          .addColumn('created_at', requiredTimestamp as any, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('latchkey_mail_outbox_next_attempt_at_index').on('latchkey_mail_outbox').column('next_attempt_at').execute();
        await createTable(db, 'latchkey_settings')
          .addColumn('name', 'varchar(191)', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}

/**
 * Migrates the database at `url` over a connection of its own, without the statement timeout
 * of latchkey's store: adding to a large Laravel table may take longer than any request should.
 * SQLite has no timeout, and a `:memory:` database exists in one connection only, so there the
 * store's own connection (`open`) is used when there is one.
 */
export async function migrateDatabase(url: string, open?: Pick<Connection, 'db' | 'dialect'>): Promise<string[]> {
  if (open?.dialect === 'sqlite') return migrate(open.db, open.dialect);
  const { db, dialect } = connect(url);
  try {
    return await migrate(db, dialect);
  } finally {
    await db.destroy();
  }
}

export async function migrate(db: Kysely<Database>, dialect: DialectName): Promise<string[]> {
  const schema = await currentSchema(db, dialect);
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect, schema) };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'latchkey_migrations',
    migrationLockTableName: 'latchkey_migrations_lock',
    migrationTableSchema: schema,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every migration has run; `serve --no-migrate` refuses to start otherwise. */
export async function isMigrated(db: Kysely<Database>, dialect: DialectName): Promise<boolean> {
  const schema = await currentSchema(db, dialect);
  if (!(await tableExists(db, 'latchkey_migrations', schema))) return false;
  const done = await (db as Db).selectFrom('latchkey_migrations').select('name').execute();
  const names = new Set(done.map((r: { name: string }) => r.name));
  return Object.keys(migrations(dialect, schema)).every((n) => names.has(n));
}

/** The database lacks latchkey's tables or a migration; the message says what to run. */
export class NotMigratedError extends Error {
  constructor(hint: string) {
    super(`the database is not migrated: ${hint}`);
    this.name = 'NotMigratedError';
  }
}

/** Throws NotMigratedError (with `hint`, e.g. "run `latchkey migrate` first") unless every migration has run. */
export async function assertMigrated(url: string, hint: string): Promise<void> {
  const connection = connect(url);
  try {
    if (!(await isMigrated(connection.db, connection.dialect))) throw new NotMigratedError(hint);
  } finally {
    await connection.db.destroy();
  }
}
