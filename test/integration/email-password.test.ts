// docs/api.md §2 emails and passwords: emails stored trimmed and lower-cased but compared
// case-insensitively (so Laravel's mixed-case rows work, and the oldest of two case twins is
// the one); passwords refused rather than truncated, never hashed past 4096 bytes at login,
// and rehashed on login when the stored hash is outdated.
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import { describe, mock, test } from 'node:test';
import { BACKENDS, register, useStack, type TestApp } from '../helpers/app.js';
import { toSqlTime } from '../../src/store/time.js';

const BACKENDS_HERE = BACKENDS.filter(
  (b) => (b.db === 'sqlite' && b.cache === 'memory') || (b.db === 'postgres' && b.cache === 'memory') || (b.db === 'mysql' && b.cache === 'redis'),
);

/** Writes a user row straight into `users`, as Laravel would; returns its id. */
async function insertUser(app: TestApp, email: string, passwordHash: string, createdAt = Date.now()): Promise<number> {
  const db = app.latchkey.store.db;
  const at = toSqlTime(createdAt);
  await db.insertInto('users').values({ name: 'Laravel', email, password: passwordHash, created_at: at, updated_at: at }).execute();
  const row = await db.selectFrom('users').select('id').where('email', '=', email).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  return Number(row.id);
}

async function storedHash(app: TestApp, userId: number): Promise<string> {
  const row = await app.latchkey.store.db.selectFrom('users').select('password').where('id', '=', userId).executeTakeFirstOrThrow();
  return row.password;
}

const laravelBcrypt = async (password: string, cost: number) => (await bcrypt.hash(password, cost)).replace(/^\$2b\$/, '$2y$');
const unique = () => Math.random().toString(36).slice(2, 10);

/** Counts calls into the hashing libraries while `work` runs. */
/** Passwords hashed or verified by the app's hasher (on its worker threads) while `work` runs. */
async function countHashing(app: TestApp, work: () => Promise<void>): Promise<number> {
  const spies = [mock.method(app.latchkey.hasher, 'hash'), mock.method(app.latchkey.hasher, 'verify')];
  try {
    await work();
    return spies.reduce((n, spy) => n + spy.mock.callCount(), 0);
  } finally {
    for (const spy of spies) spy.mock.restore();
  }
}

for (const backend of BACKENDS_HERE) {
  describe(`emails on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend);

    test('are stored trimmed and lower-cased', async () => {
      const id = unique();
      const reply = await ctx.app.request('POST', '/api/auth/register', { body: { email: `  MiXeD.${id}@Example.COM \t`, password: 'password-1' } });
      assert.equal(reply.status, 201);
      assert.equal(reply.body.user.email, `mixed.${id}@example.com`);
      const row = await ctx.app.latchkey.store.db.selectFrom('users').select('email').where('id', '=', reply.body.user.id).executeTakeFirstOrThrow();
      assert.equal(row.email, `mixed.${id}@example.com`);
    });

    test('a mixed-case email written by Laravel logs in with any case, and is shown as stored', async () => {
      const stored = `Laravel.User.${unique()}@Example.com`;
      const userId = await insertUser(ctx.app, stored, await laravelBcrypt('laravel-pass', 4));
      for (const typed of [stored, stored.toLowerCase(), stored.toUpperCase(), ` ${stored.toLowerCase()} `]) {
        const login = await ctx.app.request('POST', '/api/auth/login', { body: { email: typed, password: 'laravel-pass' } });
        assert.equal(login.status, 200, `${typed}: ${JSON.stringify(login.body)}`);
        assert.equal(login.body.user.id, userId);
        assert.equal(login.body.user.email, stored, 'responses show the email as stored');
      }
      const taken = await ctx.app.request('POST', '/api/auth/register', { body: { email: stored.toLowerCase(), password: 'password-1' } });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error.code, 'email_taken');
    });

    test('of two rows differing only in case, the oldest account is the one', async () => {
      const base = `twin.${unique()}@example.com`;
      const oldest = await insertUser(ctx.app, base.replace('twin', 'Twin'), await laravelBcrypt('oldest-pass', 4), Date.now() - 86_400_000);
      let newer: number | undefined;
      try {
        newer = await insertUser(ctx.app, base, await laravelBcrypt('newer-pass', 4));
      } catch (error) {
        // MySQL's case-insensitive collation makes the unique index refuse the twin outright.
        assert.equal(backend.db, 'mysql', `only MySQL refuses case twins: ${String(error)}`);
      }
      if (backend.db !== 'mysql') assert.ok(newer && newer > oldest);
      for (const typed of [base, base.toUpperCase()]) {
        const login = await ctx.app.request('POST', '/api/auth/login', { body: { email: typed, password: 'oldest-pass' } });
        assert.equal(login.status, 200);
        assert.equal(login.body.user.id, oldest);
      }
      const other = await ctx.app.request('POST', '/api/auth/login', { body: { email: base, password: 'newer-pass' } });
      assert.equal(other.status, 401, 'the newer twin is not reachable by email');
      const register = await ctx.app.request('POST', '/api/auth/register', { body: { email: base.toUpperCase(), password: 'password-1' } });
      assert.equal(register.status, 409);
    });

    test('the login rate limit is one counter across the case (and spacing) of the email', async () => {
      const { email, password } = await register(ctx.app, `Limit.${unique()}@example.com`);
      const variants = [email, email.toUpperCase(), email.toLowerCase(), ` ${email} `, email.replace('Limit', 'LIMIT')];
      for (const typed of variants) {
        assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email: typed, password: 'wrong-password' } })).status, 401);
      }
      const limited = await ctx.app.request('POST', '/api/auth/login', { body: { email: email.toLowerCase(), password } });
      assert.equal(limited.status, 429);
    });

    test('a wrong current password counts against the same limit as login', async () => {
      const { token, email, password } = await register(ctx.app, `Change.${unique()}@example.com`);
      for (let i = 0; i < 5; i++) {
        const wrong = await ctx.app.request('PUT', '/api/auth/password', { token, body: { current_password: 'wrong-password', password: 'new-password-1' } });
        assert.equal(wrong.status, 422);
      }
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email: email.toUpperCase(), password } })).status, 429);
    });
  });

  describe(`password rehash on ${backend.db}`, () => {
    const ctx = useStack(backend);

    test('bcrypt at another cost than BCRYPT_ROUNDS is rehashed on login, and still verifies', async () => {
      const email = `cost.${unique()}@example.com`;
      const old = await laravelBcrypt('cost-five-pw', 5);
      const userId = await insertUser(ctx.app, email, old);
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'cost-five-pw' } })).status, 200);
      const now = await storedHash(ctx.app, userId);
      assert.notEqual(now, old);
      assert.match(now, /^\$2y\$04\$/);
      assert.equal(await bcrypt.compare('cost-five-pw', now.replace('$2y$', '$2b$')), true);
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'cost-five-pw' } })).status, 200);
      assert.equal(await storedHash(ctx.app, userId), now, 'an up-to-date hash is left alone');
    });

    test('an argon2id hash is rehashed to bcrypt when PASSWORD_HASHER=bcrypt', async () => {
      const email = `argon.${unique()}@example.com`;
      const userId = await insertUser(ctx.app, email, await argon2.hash('argon-password', { type: argon2.argon2id }));
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'argon-password' } })).status, 200);
      const now = await storedHash(ctx.app, userId);
      assert.match(now, /^\$2y\$04\$/);
      assert.equal(await bcrypt.compare('argon-password', now.replace('$2y$', '$2b$')), true);
    });

    test('a failed login does not rehash', async () => {
      const email = `nochange.${unique()}@example.com`;
      const old = await laravelBcrypt('right-password', 5);
      const userId = await insertUser(ctx.app, email, old);
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } })).status, 401);
      assert.equal(await storedHash(ctx.app, userId), old);
    });

    test('a Laravel hash of a password over 72 bytes verifies, and is not rehashed (that would truncate it)', async () => {
      const email = `long.${unique()}@example.com`;
      const long = `${'long-password-'.repeat(8)}!`;
      assert.ok(Buffer.byteLength(long) > 72);
      const old = await laravelBcrypt(long, 5);
      const userId = await insertUser(ctx.app, email, old);
      assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: long } })).status, 200);
      assert.equal(await storedHash(ctx.app, userId), old);
    });
  });
}

describe('password limits (bcrypt, BCRYPT_ROUNDS=4)', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' });

  test('a password over 72 bytes is refused at register, before any hashing', async () => {
    let reply: Awaited<ReturnType<TestApp['request']>> | undefined;
    const calls = await countHashing(ctx.app, async () => {
      reply = await ctx.app.request('POST', '/api/auth/register', { body: { email: `b${unique()}@example.com`, password: 'é'.repeat(37) } });
    });
    assert.equal(reply!.status, 422);
    assert.ok(reply!.body.error.fields.password);
    assert.equal(calls, 0);
    const exactly72 = await ctx.app.request('POST', '/api/auth/register', { body: { email: `c${unique()}@example.com`, password: 'p'.repeat(72) } });
    assert.equal(exactly72.status, 201, '72 bytes is allowed');
  });

  test('a new password over 72 bytes is refused on password change, before any hashing', async () => {
    const { token, email, password } = await register(ctx.app);
    let reply: Awaited<ReturnType<TestApp['request']>> | undefined;
    const calls = await countHashing(ctx.app, async () => {
      reply = await ctx.app.request('PUT', '/api/auth/password', { token, body: { current_password: password, password: 'p'.repeat(73) } });
    });
    assert.equal(reply!.status, 422);
    assert.deepEqual(Object.keys(reply!.body.error.fields), ['password']);
    assert.equal(calls, 0);
    assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password } })).status, 200, 'the old password still works');
  });

  test('login over 4096 bytes answers invalid_credentials without hashing', async () => {
    const { email } = await register(ctx.app);
    let control: Awaited<ReturnType<TestApp['request']>> | undefined;
    const controlCalls = await countHashing(ctx.app, async () => {
      control = await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'x'.repeat(4096) } });
    });
    assert.equal(control!.status, 401);
    assert.equal(controlCalls, 1, 'up to 4096 bytes the password is verified (the spy works)');

    let reply: Awaited<ReturnType<TestApp['request']>> | undefined;
    const calls = await countHashing(ctx.app, async () => {
      reply = await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'x'.repeat(4097) } });
    });
    assert.equal(reply!.status, 401);
    assert.equal(reply!.body.error.code, 'invalid_credentials');
    assert.deepEqual(reply!.body, control!.body, 'the same answer as a wrong password');
    assert.equal(calls, 0);
  });

  test('a current_password over 4096 bytes is refused without hashing', async () => {
    const { token } = await register(ctx.app);
    let reply: Awaited<ReturnType<TestApp['request']>> | undefined;
    const calls = await countHashing(ctx.app, async () => {
      reply = await ctx.app.request('PUT', '/api/auth/password', { token, body: { current_password: 'x'.repeat(5000), password: 'new-password-1' } });
    });
    assert.equal(reply!.status, 422);
    assert.ok(reply!.body.error.fields.current_password);
    assert.equal(calls, 0);
  });
});

describe('PASSWORD_HASHER=argon2id end to end', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { PASSWORD_HASHER: 'argon2id' });

  test('register, login, password change: argon2id hashes, up to 1024 bytes', async () => {
    const long = 'å'.repeat(50); // 100 bytes: too long for bcrypt, fine for argon2id
    const { token, user, email } = await register(ctx.app, `argon.${unique()}@example.com`, long);
    const first = await storedHash(ctx.app, user.id);
    assert.match(first, /^\$argon2id\$/);
    assert.equal(await argon2.verify(first, long), true);

    const login = await ctx.app.request('POST', '/api/auth/login', { body: { email, password: long } });
    assert.equal(login.status, 200);
    assert.equal(await storedHash(ctx.app, user.id), first, 'no rehash needed');

    const changed = await ctx.app.request('PUT', '/api/auth/password', { token: login.body.token, body: { current_password: long, password: 'p'.repeat(1024) } });
    assert.equal(changed.status, 200);
    const second = await storedHash(ctx.app, user.id);
    assert.match(second, /^\$argon2id\$/);
    assert.notEqual(second, first);
    assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'p'.repeat(1024) } })).status, 200);
    void token;

    const tooLong = await ctx.app.request('POST', '/api/auth/register', { body: { email: `x${unique()}@example.com`, password: 'p'.repeat(1025) } });
    assert.equal(tooLong.status, 422);
    assert.ok(tooLong.body.error.fields.password);
  });

  test('a bcrypt user from Laravel logs in and is rehashed to argon2id', async () => {
    const email = `fromlaravel.${unique()}@example.com`;
    const userId = await insertUser(ctx.app, email, await laravelBcrypt('laravel-pass', 4));
    assert.equal((await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'laravel-pass' } })).status, 200);
    const now = await storedHash(ctx.app, userId);
    assert.match(now, /^\$argon2id\$/);
    assert.equal(await argon2.verify(now, 'laravel-pass'), true);
  });
});

describe('the real cost: BCRYPT_ROUNDS=12', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { BCRYPT_ROUNDS: '12' });

  test('register writes $2y$12$ and login verifies it', async () => {
    const app = ctx.app;
    const { user, email, password } = await register(app);
    assert.match(await storedHash(app, user.id), /^\$2y\$12\$[./A-Za-z0-9]{53}$/);
    assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password } })).status, 200);
    assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } })).status, 401);
  });
});
