// `latchkey tokens:prune` (only tokens expired for more than N hours, in batches, with progress
// on a non-terminal stderr) and `latchkey tokens:revoke` (by id, by email in any case, --all;
// counts rows of both tables; a running instance rejects the revoked credentials).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { register, useStack, type TestApp } from '../helpers/app.js';
import { freshDatabase, type DbKind } from '../helpers/databases.js';
import { newSecret, sha256Hex } from '../../src/core/token-format.js';
import { migrate } from '../../src/store/migrate.js';
import type { Database } from '../../src/store/schema.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { toSqlTime } from '../../src/store/time.js';
import { isOneLineFailure, runCli } from './run-cli.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Row {
  name: string;
  expiresAt: number | null;
  createdAt: number;
}

/** Inserts token rows as Sanctum would (many per statement); returns their ids in order. */
async function insertTokens(db: Kysely<Database>, userId: number, rows: Row[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('personal_access_tokens')
      .values(
        rows.slice(i, i + 500).map((r) => ({
          tokenable_type: 'App\\Models\\User',
          tokenable_id: userId,
          name: r.name,
          token: sha256Hex(newSecret('lk_')),
          abilities: '["*"]',
          last_used_at: null,
          expires_at: r.expiresAt === null ? null : toSqlTime(r.expiresAt),
          created_at: toSqlTime(r.createdAt),
          updated_at: toSqlTime(r.createdAt),
        })),
      )
      .execute();
  }
}

async function tokenNames(db: Kysely<Database>): Promise<string[]> {
  return (await db.selectFrom('personal_access_tokens').select('name').orderBy('name').execute()).map((r) => r.name);
}

async function migratedDatabase(kind: DbKind) {
  const database = await freshDatabase(kind);
  const store = new SqlStore(database.url);
  await migrate(store.db, store.dialect);
  const now = toSqlTime(Date.now());
  await store.db.insertInto('users').values({ name: 'p', email: 'prune@example.com', password: 'x', created_at: now, updated_at: now }).execute();
  const { id } = await store.db.selectFrom('users').select('id').executeTakeFirstOrThrow();
  return {
    url: database.url,
    db: store.db,
    userId: Number(id),
    async close() {
      await store.close();
      await database.drop();
    },
  };
}

describe('latchkey tokens:prune', { concurrency: 2 }, () => {
  for (const kind of ['sqlite', 'mysql'] as const) {
    test(`deletes only tokens expired for more than N hours, and prints how many (${kind})`, async () => {
      const target = await migratedDatabase(kind);
      try {
        const now = Date.now();
        await insertTokens(target.db, target.userId, [
          { name: 'a-expired-2-days-ago', expiresAt: now - 2 * DAY, createdAt: now - 3 * DAY },
          { name: 'b-expired-12-hours-ago', expiresAt: now - 12 * HOUR, createdAt: now - DAY },
          { name: 'c-live', expiresAt: now + DAY, createdAt: now },
          { name: 'd-never-expires-new', expiresAt: null, createdAt: now },
          // No expires_at: TOKEN_EXPIRATION (30 days) from created_at decides, as in Sanctum.
          { name: 'e-40-days-old', expiresAt: null, createdAt: now - 40 * DAY },
          { name: 'f-30-days-and-2-hours-old', expiresAt: null, createdAt: now - 30 * DAY - 2 * HOUR },
        ]);
        const env = { DATABASE_URL: target.url };

        const byDefault = await runCli(['tokens:prune'], { env });
        assert.equal(byDefault.code, 0, byDefault.stderr);
        assert.match(byDefault.stdout, /Pruned 2 tokens .*more than 24 hours/);
        assert.deepEqual(await tokenNames(target.db), ['b-expired-12-hours-ago', 'c-live', 'd-never-expires-new', 'f-30-days-and-2-hours-old']);

        const sixHours = await runCli(['tokens:prune', '--hours=6'], { env });
        assert.equal(sixHours.code, 0, sixHours.stderr);
        assert.match(sixHours.stdout, /Pruned 1 tokens/);
        assert.deepEqual(await tokenNames(target.db), ['c-live', 'd-never-expires-new', 'f-30-days-and-2-hours-old']);

        const zero = await runCli(['tokens:prune', '--hours', '0'], { env: { ...env, PRUNE_HOURS: '48' } });
        assert.equal(zero.code, 0, zero.stderr);
        assert.match(zero.stdout, /Pruned 1 tokens/);
        assert.deepEqual(await tokenNames(target.db), ['c-live', 'd-never-expires-new']);
      } finally {
        await target.close();
      }
    });
  }

  test('works in batches on a big table and reports progress on a non-terminal stderr (postgres)', async () => {
    const target = await migratedDatabase('postgres');
    try {
      const now = Date.now();
      const expired = Array.from({ length: 20_000 }, (_, i): Row => ({ name: `old-${i}`, expiresAt: now - 2 * DAY, createdAt: now - 3 * DAY }));
      await insertTokens(target.db, target.userId, expired);
      await insertTokens(target.db, target.userId, [
        { name: 'live-1', expiresAt: now + DAY, createdAt: now },
        { name: 'live-2', expiresAt: null, createdAt: now },
      ]);
      const result = await runCli(['tokens:prune'], { env: { DATABASE_URL: target.url } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Pruned 20000 tokens/);
      const progress = result.stderr.split('\n').filter(Boolean);
      assert.ok(progress.length >= 1, 'at least one progress line');
      for (const line of progress) assert.match(line, /^deleted \d+ tokens so far$/);
      assert.equal(progress[0], 'deleted 1000 tokens so far', 'the first batch is 1000 rows');
      assert.deepEqual(await tokenNames(target.db), ['live-1', 'live-2']);
    } finally {
      await target.close();
    }
  });
});

/** Polls until `reply` is 401, within a generous margin of docs/api.md's 100 ms. */
async function rejectedSoon(request: () => Promise<{ status: number }>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await request()).status === 401) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

async function sessionOf(app: TestApp, email: string, password: string): Promise<string> {
  const xsrf = (await app.request('GET', '/api/auth/csrf-cookie')).cookies['XSRF-TOKEN']!;
  const reply = await app.request('POST', '/api/auth/session', { body: { email, password }, headers: { 'x-xsrf-token': xsrf }, cookies: { 'XSRF-TOKEN': xsrf } });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.cookies.latchkey_session!;
}

for (const backend of [
  { db: 'postgres', cache: 'redis' },
  { db: 'sqlite', cache: 'memory' },
] as const) {
  describe(`latchkey tokens:revoke against a running instance (${backend.db}, ${backend.cache} cache)`, () => {
    // Logins here must not revoke each other: the test builds several credentials per user.
    const ctx = useStack(backend, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });

    /** A user with two live tokens, one expired token row and one session, all warm in the cache. */
    async function userWithCredentials(email: string) {
      const { token, user, password } = await register(ctx.app, email);
      const pat = (await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: 'pat' } })).body.token as string;
      const cookie = await sessionOf(ctx.app, email, password);
      const now = Date.now();
      await insertTokens(ctx.app.latchkey.store.db, user.id, [{ name: 'expired', expiresAt: now - 5 * DAY, createdAt: now - 6 * DAY }]);
      const me = () => ctx.app.request('GET', '/api/auth/me', { token });
      const mePat = () => ctx.app.request('GET', '/api/auth/me', { token: pat });
      const meSession = () => ctx.app.request('GET', '/api/auth/me', { cookies: { latchkey_session: cookie } });
      for (const check of [me, mePat, meSession]) assert.equal((await check()).status, 200);
      return { user, checks: [me, mePat, meSession] };
    }

    test('--user=<id> and --user=<email in any case> revoke that user only, counting both tables', async () => {
      const a = await userWithCredentials(`revoke-a-${Date.now()}@example.com`);
      const b = await userWithCredentials(`Revoke-B-${Date.now()}@example.com`);
      const bystander = await userWithCredentials(`bystander-${Date.now()}@example.com`);

      const byId = await runCli(['tokens:revoke', `--user=${a.user.id}`], { env: ctx.stack.env });
      assert.equal(byId.code, 0, byId.stderr);
      assert.match(byId.stdout, new RegExp(`Revoked 3 tokens and 1 sessions of user ${a.user.id}\\b`));
      for (const check of a.checks) assert.ok(await rejectedSoon(check), 'the running instance rejects it');

      const byEmail = await runCli(['tokens:revoke', '--user', b.user.email.toUpperCase()], { env: ctx.stack.env });
      assert.equal(byEmail.code, 0, byEmail.stderr);
      assert.match(byEmail.stdout, new RegExp(`Revoked 3 tokens and 1 sessions of user ${b.user.id}\\b`));
      for (const check of b.checks) assert.ok(await rejectedSoon(check));

      for (const check of bystander.checks) assert.equal((await check()).status, 200, 'other users keep working');
    });

    test('an unknown user exits 1 with one line', async () => {
      for (const who of ['999999', '99999999999999999999', 'nobody@example.com']) {
        const result = await runCli(['tokens:revoke', `--user=${who}`], { env: ctx.stack.env });
        assert.ok(isOneLineFailure(result), result.stderr);
        assert.match(result.stderr, new RegExp(who));
      }
    });

    test('--all revokes every token and session, counting both tables', async () => {
      const c = await userWithCredentials(`revoke-c-${Date.now()}@example.com`);
      const db = ctx.app.latchkey.store.db;
      const tokens = Number((await db.selectFrom('personal_access_tokens').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
      const sessions = Number((await db.selectFrom('latchkey_sessions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
      assert.ok(tokens >= 3 && sessions >= 1);
      const result = await runCli(['tokens:revoke', '--all'], { env: ctx.stack.env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`Revoked ${tokens} tokens and ${sessions} sessions`));
      for (const check of c.checks) assert.ok(await rejectedSoon(check));
      const { token } = await register(ctx.app);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200, 'new credentials work');
    });
  });
}
