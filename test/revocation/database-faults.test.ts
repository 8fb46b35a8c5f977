// The database is the truth (docs/revocation.md): with PostgreSQL cut off behind a TCP proxy, cached
// tokens keep validating on every instance (/me and /verify), every write answers 503
// `unavailable`, and once the database is back nothing turns out half-written.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { register, REDIS_URL, startInstance, uniquePrefix, type TestApp } from '../helpers/app.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { status, tokenId } from './support.js';

describe('database faults: PostgreSQL behind a proxy, Redis, two instances', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let A: TestApp;
  let B: TestApp;
  let direct: pg.Client; // the test's own view of the database, not through the proxy

  before(async () => {
    database = await freshDatabase('postgres');
    proxy = await TcpProxy.start({ port: Number(new URL(database.url).port || 5432) });
    const proxied = new URL(database.url);
    proxied.port = String(proxy.port);
    const env = { DATABASE_URL: proxied.toString(), CACHE_PREFIX: uniquePrefix(), REDIS_URL };
    A = await startInstance(env);
    B = await startInstance(env);
    direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
  });
  after(async () => {
    await direct?.end();
    await A?.close();
    await B?.close();
    await proxy?.close();
    await database?.drop();
  });

  const count = async (sql: string, params: unknown[]) => Number((await direct.query(sql, params)).rows[0].count);

  test('cut off: cached tokens validate everywhere, writes answer 503, nothing is half-written', async () => {
    const alice = await register(A);
    const bob = await register(A);
    for (const app of [A, B]) for (const t of [alice.token, bob.token]) assert.equal(await status(app, t), 200);
    const aliceTokensBefore = await count('select count(*) from personal_access_tokens where tokenable_id = $1', [alice.user.id]);

    await proxy.cut();
    try {
      for (const app of [A, B]) {
        for (const path of ['/api/auth/me', '/api/auth/verify']) assert.equal(await status(app, alice.token, path), 200, `${path} from the cache`);
      }
      const writes: [string, string, { token?: string; body?: unknown }][] = [
        ['POST', '/api/auth/register', { body: { email: 'nobody@example.com', password: 'password-1' } }],
        ['POST', '/api/auth/login', { body: { email: alice.email, password: alice.password } }],
        ['POST', '/api/auth/logout', { token: bob.token }],
        ['POST', '/api/auth/tokens', { token: alice.token, body: { name: 'new' } }],
        ['DELETE', `/api/auth/tokens/${tokenId(alice.token)}`, { token: alice.token }],
        ['PUT', '/api/auth/password', { token: alice.token, body: { current_password: alice.password, password: 'another-password' } }],
      ];
      for (const [method, path, options] of writes) {
        const reply = await B.request(method, path, options);
        assert.deepEqual([reply.status, reply.body?.error?.code], [503, 'unavailable'], `${method} ${path}`);
      }
      const ready = await A.request('GET', '/readyz');
      assert.deepEqual([ready.status, ready.body.database], [503, 'down']);
    } finally {
      await proxy.restore();
    }

    assert.equal(await count('select count(*) from users where email = $1', ['nobody@example.com']), 0, 'register left no user');
    assert.equal(await count('select count(*) from personal_access_tokens where tokenable_id = $1', [alice.user.id]), aliceTokensBefore, 'login, token creation and password change left no token and deleted none');
    assert.equal(await count('select count(*) from personal_access_tokens where id = $1', [tokenId(bob.token)]), 1, 'the failed logout did not revoke');
    for (const app of [A, B]) assert.equal(await status(app, bob.token), 200);
    const login = await A.request('POST', '/api/auth/login', { body: { email: alice.email, password: alice.password } });
    assert.equal(login.status, 200, 'the old password still works: the change did not half-happen');
    assert.equal((await A.request('POST', '/api/auth/logout', { token: bob.token })).status, 204);
  });

  test('cut in the middle of a burst of registrations: every account exists with its token, or not at all', async () => {
    const emails = Array.from({ length: 30 }, (_, i) => `burst${i}-${Date.now()}@example.com`);
    let answered = 0;
    const replies = emails.map((email, i) =>
      (i % 2 ? A : B).request('POST', '/api/auth/register', { body: { email, password: 'password-1' } }).then((r) => {
        answered++;
        return r;
      }),
    );
    while (answered < 3) await new Promise((r) => setTimeout(r, 1));
    await proxy.cut();
    const statuses = (await Promise.all(replies)).map((r) => r.status);
    await proxy.restore();
    assert.ok(statuses.every((s) => s === 201 || s === 503), `only 201 or 503: ${statuses.join(',')}`);
    assert.ok(statuses.includes(503), 'the cut landed while registrations were in flight');
    for (const [i, email] of emails.entries()) {
      const users = await count('select count(*) from users where email = $1', [email]);
      const tokens = await count('select count(*) from personal_access_tokens t join users u on u.id = t.tokenable_id where u.email = $1', [email]);
      assert.equal(tokens, users, `${email}: a user without its token, or the reverse`);
      if (statuses[i] === 201) assert.equal(users, 1, `${email} answered 201 but was not committed`);
    }
  });
});

// A partition that TCP has not noticed: connections stay open and no byte moves. Without a
// client-side statement timeout, every request that needs the database would hang.
for (const kind of ['postgres', 'mysql'] as const) {
  describe(`database faults: ${kind} stalls silently behind a proxy`, () => {
    let database: TestDatabase;
    let proxy: TcpProxy;
    let app: TestApp;

    before(async () => {
      database = await freshDatabase(kind);
      const url = new URL(database.url);
      proxy = await TcpProxy.start({ port: Number(url.port) });
      url.port = String(proxy.port);
      app = await startInstance({ DATABASE_URL: url.toString(), CACHE_PREFIX: uniquePrefix(), LATCHKEY_DATABASE_TIMEOUT: '500' });
    });
    after(async () => {
      await app?.close();
      await proxy?.close();
      await database?.drop();
    });

    test('writes answer 503 instead of hanging, cached tokens keep validating, and it recovers', async () => {
      const alice = await register(app);
      assert.equal(await status(app, alice.token), 200);
      const email = `stalled-${Date.now()}@example.com`;
      proxy.stall();
      try {
        const reply = await answeredWithin(15_000, app.request('POST', '/api/auth/register', { body: { email, password: 'password-1' } }));
        assert.deepEqual([reply.status, reply.body?.error?.code], [503, 'unavailable']);
        assert.equal(await status(app, alice.token), 200, '/me from the in-process tier');
      } finally {
        proxy.unstall();
      }
      // The late replies of the timed-out statements are drained in order; then it works again.
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email: alice.email, password: alice.password } })).status, 200);
      const db = app.latchkey.store.db;
      const users = await db.selectFrom('users').select('id').where('email', '=', email).execute();
      const tokens = users.length === 0 ? [] : await db.selectFrom('personal_access_tokens').select('id').where('tokenable_id', '=', users[0]!.id).execute();
      assert.equal(tokens.length, users.length, 'the stalled registration is all or nothing');
    });
  });
}

/** The reply, or a clear failure instead of the test runner's timeout if the request hangs. */
function answeredWithin<T>(ms: number, reply: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: the request hangs on the stalled database`)), ms);
  });
  return Promise.race([reply, hang]).finally(() => clearTimeout(timer));
}
