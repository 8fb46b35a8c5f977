// docs/api.md §3.7 abuse limits: registrations per client IP, failed logins per account across IPs
// (with the exemption of IPs the account logged in from), the bound on waiting password hashes,
// attempts that end in 503 not counting, and on MySQL/MariaDB one rate-limit key for every
// spelling the email collation resolves to the same account. Client IPs come from
// X-Forwarded-For (TRUST_PROXY=true).
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { UnavailableError } from '../../src/core/errors.js';
import { register, useStack, type Backend, type Reply, type TestApp } from '../helpers/app.js';

const from = (ip: string) => ({ 'x-forwarded-for': ip });
const login = (app: TestApp, email: string, password: string, ip: string) =>
  app.request('POST', '/api/auth/login', { body: { email, password }, headers: from(ip) });
const registration = (app: TestApp, email: string, ip: string) =>
  app.request('POST', '/api/auth/register', { body: { email, password: 'correct horse' }, headers: from(ip) });
let unique = 0;
const freshEmail = (name = 'user') => `${name}-${process.pid}-${++unique}@example.com`;

function assertRateLimited(reply: Reply, what: string): void {
  assert.equal(reply.status, 429, `${what}: ${JSON.stringify(reply.body)}`);
  assert.equal(reply.body.error.code, 'too_many_requests');
  assert.ok(Number(reply.headers['retry-after']) >= 1, `${what}: Retry-After ${reply.headers['retry-after']}`);
}

/** Makes every user lookup by email fail as a database outage does, until the returned function runs. */
function databaseDown(app: TestApp): () => void {
  const users = app.latchkey.store.users;
  const findByEmail = users.findByEmail;
  users.findByEmail = async () => {
    throw new UnavailableError(new Error('connection refused (test)'));
  };
  return () => {
    users.findByEmail = findByEmail;
  };
}

const LIMITED_BACKENDS: Backend[] = [
  { db: 'sqlite', cache: 'memory' },
  { db: 'postgres', cache: 'redis' },
];

for (const backend of LIMITED_BACKENDS) {
  describe(`register per client IP on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend, { TRUST_PROXY: 'true', REGISTER_RATE_LIMIT: '2' });

    test('REGISTER_RATE_LIMIT registrations per IP, then 429 before any hash; other IPs unaffected', async () => {
      const app = ctx.app;
      let hashes = 0;
      const hash = app.latchkey.hasher.hash;
      app.latchkey.hasher.hash = (password) => (hashes++, hash(password));
      try {
        assert.equal((await registration(app, 'not-an-email', '198.51.100.1')).status, 422, 'a 422 is not counted');
        assert.equal((await registration(app, freshEmail(), '198.51.100.1')).status, 201);
        assert.equal((await registration(app, freshEmail(), '198.51.100.1')).status, 201);
        const before = hashes;
        assertRateLimited(await registration(app, freshEmail(), '198.51.100.1'), 'third registration');
        assert.equal(hashes, before, 'a refused registration hashes nothing');
        assert.equal((await registration(app, freshEmail(), '198.51.100.2')).status, 201, 'another IP has its own count');
      } finally {
        app.latchkey.hasher.hash = hash;
      }
    });

    test('a registration answered 503 (database down) is not counted', async () => {
      const app = ctx.app;
      const restore = databaseDown(app);
      try {
        for (let i = 0; i < 3; i++) assert.equal((await registration(app, freshEmail(), '198.51.100.3')).status, 503);
      } finally {
        restore();
      }
      assert.equal((await registration(app, freshEmail(), '198.51.100.3')).status, 201);
      assert.equal((await registration(app, freshEmail(), '198.51.100.3')).status, 201);
      assertRateLimited(await registration(app, freshEmail(), '198.51.100.3'), 'after two real registrations');
    });
  });

  describe(`failed logins per account across IPs on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend, { TRUST_PROXY: 'true', LOGIN_RATE_LIMIT: '2', ACCOUNT_LOGIN_RATE_LIMIT: '3' });

    test('ACCOUNT_LOGIN_RATE_LIMIT attempts from new IPs, then 429 even with the right password', async () => {
      const app = ctx.app;
      const { email, password } = await register(app, freshEmail());
      for (let i = 1; i <= 3; i++) assert.equal((await login(app, email, 'wrong-password', `203.0.113.${i}`)).status, 401);
      assertRateLimited(await login(app, email, 'wrong-password', '203.0.113.4'), 'a fourth IP');
      assertRateLimited(await login(app, email, password, '203.0.113.5'), 'the right password from a new IP');
      // Another account is not affected.
      const other = await register(app, freshEmail());
      assert.equal((await login(app, other.email, other.password, '203.0.113.6')).status, 200);
    });

    test('an IP the account logged in from is exempt: guesses elsewhere cannot lock the owner out', async () => {
      const app = ctx.app;
      const { email, password } = await register(app, freshEmail());
      assert.equal((await login(app, email, password, '192.0.2.10')).status, 200, 'the owner logs in from home');
      for (let i = 1; i <= 3; i++) assert.equal((await login(app, email, 'wrong-password', `203.0.113.${20 + i}`)).status, 401);
      assertRateLimited(await login(app, email, 'wrong-password', '203.0.113.30'), 'the attacker');
      assert.equal((await login(app, email, password, '192.0.2.10')).status, 200, 'the owner, from home, during the attack');
      // The per-(account, IP) limit still holds for the known IP.
      assert.equal((await login(app, email, 'wrong-password', '192.0.2.10')).status, 401);
      assert.equal((await login(app, email, 'wrong-password', '192.0.2.10')).status, 401);
      assertRateLimited(await login(app, email, password, '192.0.2.10'), 'the known IP over LOGIN_RATE_LIMIT');
    });

    test('the account count is shared by every instance', async () => {
      const other = await ctx.stack.another();
      const { email } = await register(ctx.app, freshEmail());
      assert.equal((await login(ctx.app, email, 'wrong-password', '203.0.113.41')).status, 401);
      assert.equal((await login(other, email, 'wrong-password', '203.0.113.42')).status, 401);
      assert.equal((await login(ctx.app, email, 'wrong-password', '203.0.113.43')).status, 401);
      const fourth = await login(other, email, 'wrong-password', '203.0.113.44');
      // Without Redis each instance counts alone (docs/api.md §3.7).
      if (backend.cache === 'redis') assertRateLimited(fourth, 'the fourth attempt on another instance');
      else assert.equal(fourth.status, 401);
    });

    test('logins answered 503 (database down) count neither per IP nor per account', async () => {
      const app = ctx.app;
      const { email, password } = await register(app, freshEmail());
      const restore = databaseDown(app);
      try {
        for (let i = 1; i <= 4; i++) {
          assert.equal((await login(app, email, password, '203.0.113.50')).status, 503, 'same IP');
          assert.equal((await login(app, email, password, `203.0.113.${50 + i}`)).status, 503, 'new IPs');
        }
      } finally {
        restore();
      }
      // LOGIN_RATE_LIMIT is 2 and ACCOUNT_LOGIN_RATE_LIMIT 3: had any of the eight counted, these would be 429.
      assert.equal((await login(app, email, 'wrong-password', '203.0.113.50')).status, 401);
      assert.equal((await login(app, email, 'wrong-password', '203.0.113.50')).status, 401);
      assertRateLimited(await login(app, email, 'wrong-password', '203.0.113.50'), 'the third real attempt from one IP');
      assert.equal((await login(app, email, 'wrong-password', '203.0.113.61')).status, 401);
      assertRateLimited(await login(app, email, password, '203.0.113.62'), 'the fourth real attempt on the account');
    });
  });
}

describe('the bound on waiting password hashes (PASSWORD_HASH_QUEUE)', () => {
  // A real bcrypt cost, so that the hashes started by the test are still running when the
  // requests arrive; the hashing threads are at most availableParallelism() - 1.
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { TRUST_PROXY: 'true', PASSWORD_HASH_QUEUE: '1', BCRYPT_ROUNDS: '12', LOGIN_RATE_LIMIT: '1' });

  /** Fills every hashing thread and the queue; resolves when all of those hashes have ended. */
  function fillHashing(app: TestApp): Promise<unknown> {
    const hashes = Array.from({ length: availableParallelism() + 1 }, () => app.latchkey.hasher.hash('occupying').catch(() => undefined));
    return Promise.all(hashes);
  }

  test('past the bound, login, session login, register and password change answer 503 at once and count nothing', async () => {
    const app = ctx.app;
    const user = await register(app, freshEmail());
    const xsrf = (await app.request('GET', '/api/auth/csrf-cookie')).cookies['XSRF-TOKEN']!;
    const drained = fillHashing(app);
    const replies = {
      login: await login(app, user.email, 'wrong-password', '203.0.113.70'),
      'session login': await app.request('POST', '/api/auth/session', {
        body: { email: user.email, password: user.password },
        headers: { ...from('203.0.113.71'), 'x-xsrf-token': xsrf },
        cookies: { 'XSRF-TOKEN': xsrf },
      }),
      register: await registration(app, freshEmail(), '203.0.113.72'),
      'password change': await app.request('PUT', '/api/auth/password', {
        token: user.token,
        body: { current_password: user.password, password: 'another horse' },
        headers: from('203.0.113.73'),
      }),
    };
    // Validation needs no hash and still answers.
    assert.equal((await app.request('GET', '/api/auth/verify', { token: user.token })).status, 200);
    await drained;
    for (const [what, reply] of Object.entries(replies)) {
      assert.equal(reply.status, 503, `${what}: ${JSON.stringify(reply.body)}`);
      assert.equal(reply.body.error.code, 'unavailable');
      assert.match(reply.body.error.message, /busy hashing passwords/);
      assert.equal(reply.headers['retry-after'], '1');
    }
    // LOGIN_RATE_LIMIT is 1: had the refused login counted, this one would be 429.
    assert.equal((await login(app, user.email, 'wrong-password', '203.0.113.70')).status, 401);
    assert.equal((await login(app, user.email, user.password, '203.0.113.71')).status, 200);
  });
});

describe('one rate-limit key for every spelling MariaDB/MySQL resolves to the same account', () => {
  const ctx = useStack({ db: 'mysql', cache: 'redis' }, { TRUST_PROXY: 'true', LOGIN_RATE_LIMIT: '2' });

  test('spellings that find the same account share one (email, IP) count, existing or not', async () => {
    const app = ctx.app;
    const name = `ann${process.pid}${++unique}`;
    const { email, password } = await register(app, `${name}@example.com`);
    const accented = `${name.replace('a', 'á')}@example.com`;
    assert.equal((await login(app, accented, password, '203.0.113.80')).status, 200, 'the collation finds the account');
    assert.equal((await login(app, email, 'wrong-password', '203.0.113.81')).status, 401);
    assert.equal((await login(app, accented, 'wrong-password', '203.0.113.81')).status, 401);
    assertRateLimited(await login(app, `${name.replace('a', 'Á')}@EXAMPLE.com`, password, '203.0.113.81'), 'a third spelling');

    // The same for an email with no account, so the count says nothing about whether one exists.
    const nobody = `zoe${process.pid}${++unique}@example.com`;
    assert.equal((await login(app, nobody, 'wrong-password', '203.0.113.82')).status, 401);
    assert.equal((await login(app, nobody.replace('zoe', 'zoë'), 'wrong-password', '203.0.113.82')).status, 401);
    assertRateLimited(await login(app, nobody.replace('zoe', 'ZOÉ'), 'wrong-password', '203.0.113.82'), 'no account, a third spelling');
  });

  test('two spellings get the same key exactly when the column collation calls them equal', async () => {
    const { users, db } = { users: ctx.app.latchkey.store.users, db: ctx.app.latchkey.store.db };
    const pairs: [string, string][] = [
      ['ann@example.com', 'ánn@example.com'],
      ['ann@example.com', 'ANN@EXAMPLE.COM'],
      ['strasse@example.com', 'straße@example.com'],
      ['ann@example.com', 'anne@example.com'],
      ['ann@example.com', 'bnn@example.com'],
      ['ann@example.com', 'ånn@example.com'],
    ];
    for (const [a, b] of pairs) {
      const { rows } = await sql<{ same: number }>`select (${a} collate utf8mb4_unicode_ci) = (${b} collate utf8mb4_unicode_ci) as same`.execute(db);
      const sameKey = (await users.rateLimitKey(a)) === (await users.rateLimitKey(b));
      assert.equal(sameKey, Number(rows[0]!.same) === 1, `${a} / ${b}`);
    }
    assert.notEqual(await users.rateLimitKey('ann@example.com'), await users.rateLimitKey('anne@example.com'));
  });
});
