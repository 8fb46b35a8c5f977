// latchkey embedded in an app (docs/embedding.md): the Fastify plugin and the
// Express middleware (5 and 4) answer as the server does, for bearer tokens and cookie sessions;
// bad configuration fails at start; /api/auth/verify judges a proxied request's method;
// REQUIRE_VERIFIED_EMAIL gates require() as it gates the server's /verify.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { embedLatchkey } from '../../src/embed/embedded.js';
import { register, useStack, type Reply, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/ports.js';
import { signIn, XSRF_COOKIE, SESSION_COOKIE, type Device } from '../sessions/helpers.js';
import { startExpressApp, startFastifyApp, type EmbeddedApp } from './apps.js';

function assertError(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.body.error.code, code);
  assert.equal(typeof reply.body.error.message, 'string');
  assert.deepEqual(Object.keys(reply.body.error), ['code', 'message']);
}

async function tokenWith(server: TestApp, master: string, abilities: string[]): Promise<string> {
  const reply = await server.request('POST', '/api/auth/tokens', { token: master, body: { name: abilities.join(','), abilities } });
  assert.equal(reply.status, 201);
  return reply.body.token;
}

describe('embedded: the Fastify plugin and the Express middleware answer as the server does', () => {
  // The session sign-in must leave the user's token alive.
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });
  const apps: EmbeddedApp[] = [];
  let master: string;
  let user: { id: number; email: string };
  let device: Device;
  before(async () => {
    apps.push(await startFastifyApp(ctx.stack.env), await startExpressApp(ctx.stack.env, 5), await startExpressApp(ctx.stack.env, 4));
    const registered = await register(ctx.app);
    ({ token: master, user } = registered);
    device = await signIn(ctx.app, registered);
  });
  after(async () => {
    for (const app of apps) await app.close();
  });

  for (const name of ['fastify', 'express 5', 'express 4']) {
    const appOf = () => apps.find((a) => a.name === name)!;

    test(`${name}: no or a bad credential is 401 unauthenticated with WWW-Authenticate: Bearer; open routes stay open`, async () => {
      const app = appOf();
      assert.equal((await app.request('GET', '/public')).status, 200);
      for (const options of [{}, { token: 'garbage' }, { token: '1|lk_nope' }, { headers: { authorization: 'Basic Zm9vOmJhcg==' } }, { cookies: { [SESSION_COOKIE]: 'unknown' } }]) {
        const reply = await app.request('GET', '/me', options);
        assertError(reply, 401, 'unauthenticated');
        assert.equal(reply.headers['www-authenticate'], 'Bearer');
      }
    });

    test(`${name}: a valid token sets req.auth; a missing ability is 403 forbidden`, async () => {
      const app = appOf();
      const me = await app.request('GET', '/me', { token: master });
      assert.equal(me.status, 200);
      assert.deepEqual(Object.keys(me.body), ['user', 'token', 'session']);
      assert.deepEqual(me.body.user, { id: user.id, name: 'Test', email: user.email, created_at: me.body.user.created_at, email_verified_at: null });
      assert.match(me.body.user.created_at, /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual(Object.keys(me.body.token), ['id', 'name', 'abilities', 'expires_at']);
      assert.deepEqual(me.body.token.abilities, ['*']);
      assert.equal(me.body.session, null);

      const reader = await tokenWith(ctx.app, master, ['orders:read']);
      assert.equal((await app.request('GET', '/orders', { token: reader })).status, 200);
      assertError(await app.request('POST', '/orders', { token: reader }), 403, 'forbidden');
      assertError(await app.request('GET', '/orders', { token: await tokenWith(ctx.app, master, ['other']) }), 403, 'forbidden');
      assert.equal((await app.request('POST', '/orders', { token: master })).status, 201, 'a * token has every ability');
    });

    test(`${name}: a cookie session, with the CSRF header on unsafe methods; a bearer header wins over the cookie`, async () => {
      const app = appOf();
      const me = await app.request('GET', '/me', device.read());
      assert.equal(me.status, 200);
      assert.equal(me.body.token, null);
      assert.equal(typeof me.body.session.id, 'number');
      assertError(await app.request('POST', '/orders', device.forged()), 403, 'csrf_mismatch');
      assertError(await app.request('POST', '/orders', device.read({ headers: { 'x-xsrf-token': 'wrong' } })), 403, 'csrf_mismatch');
      assert.equal((await app.request('POST', '/orders', device.write())).status, 201);
      assertError(await app.request('GET', '/me', device.read({ token: 'garbage' })), 401, 'unauthenticated');
    });
  }
});

describe('embedded: bad configuration fails at start with one line', () => {
  const startError = async (env: Record<string, string>): Promise<string> => {
    const error = await embedLatchkey({ env: { LOG_LEVEL: 'silent', ...env } }).then(
      async (started) => {
        await started.close();
        throw new Error('started');
      },
      (e: Error) => e,
    );
    assert.equal(error.name, 'LatchkeyStartError', String(error));
    assert.doesNotMatch(error.message, /\n/);
    return error.message;
  };

  test('no database file, an unmigrated database, an unreachable database, a bad variable', async () => {
    const sqlite = await freshDatabase('sqlite');
    const postgres = await freshDatabase('postgres');
    try {
      assert.match(await startError({ DATABASE_URL: sqlite.url }), /not migrated: run `latchkey migrate`/);
      assert.match(await startError({ DATABASE_URL: postgres.url }), /^latchkey: the database is not migrated: run `latchkey migrate` first/);
      assert.match(await startError({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/test` }), /cannot reach the database \(ECONNREFUSED\): check DATABASE_URL/);
      assert.match(await startError({ DATABASE_URL: 'mongodb://x' }), /^latchkey: configuration error: DATABASE_URL: unsupported scheme/);
    } finally {
      await sqlite.drop();
      await postgres.drop();
    }
  });

  test('an unreachable Redis is not an error: it starts and serves from the database', async () => {
    const database = await freshDatabase('sqlite');
    const server = await (await import('../helpers/app.js')).startInstance({ DATABASE_URL: database.url });
    try {
      const { token } = await register(server);
      const app = await startFastifyApp({ DATABASE_URL: database.url, REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT: '100' });
      try {
        assert.equal(app.core.cache.status(), 'down');
        assert.equal((await app.request('GET', '/me', { token })).status, 200);
      } finally {
        await app.close();
      }
    } finally {
      await server.close();
      await database.drop();
    }
  });
});

describe('/api/auth/verify for proxies: X-Original-Method', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });

  test('a cookie session checked for an unsafe original method needs the CSRF header; a bearer token does not', async () => {
    const registered = await register(ctx.app);
    const device = await signIn(ctx.app, registered);
    const verify = (options: Parameters<TestApp['request']>[2]) => ctx.app.request('GET', '/api/auth/verify', options);
    assert.equal((await verify(device.read())).status, 200, 'no original method: the request itself (GET)');
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'get']) assert.equal((await verify(device.read({ headers: { 'x-original-method': method } }))).status, 200, method);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'delete']) {
      assertError(await verify(device.read({ headers: { 'x-original-method': method } })), 403, 'csrf_mismatch');
      assert.equal((await verify(device.read({ headers: { 'x-original-method': method, 'x-xsrf-token': device.xsrf } }))).status, 200, method);
    }
    assertError(await verify({ cookies: { [XSRF_COOKIE]: device.xsrf }, headers: { 'x-original-method': 'POST', 'x-xsrf-token': device.xsrf } }), 401, 'unauthenticated');
    assert.equal((await verify({ token: registered.token, headers: { 'x-original-method': 'DELETE' } })).status, 200);
  });
});

describe('embedded: REQUIRE_VERIFIED_EMAIL gates require() as it gates /api/auth/verify', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { REQUIRE_VERIFIED_EMAIL: 'true' });
  const apps: EmbeddedApp[] = [];
  before(async () => {
    apps.push(await startFastifyApp(ctx.stack.env), await startExpressApp(ctx.stack.env, 5));
  });
  after(async () => {
    for (const app of apps) await app.close();
  });

  test('403 email_unverified until the link is followed on the server, then 200 with email_verified_at', async () => {
    const { token, user } = await register(ctx.app);
    for (const app of apps) assertError(await app.request('GET', '/me', { token }), 403, 'email_unverified');
    assertError(await ctx.app.request('GET', '/api/auth/verify', { token }), 403, 'email_unverified');
    const link = new URL(await ctx.app.latchkey.verification.link(user));
    assert.equal((await ctx.app.request('GET', `${link.pathname}${link.search}`, { headers: { host: link.host } })).status, 204);
    for (const app of apps) {
      // The embedded instance cached the credential as unverified; the rule asks the database,
      // reusing an answer for at most a second.
      let reply = await app.request('GET', '/me', { token });
      for (const deadline = Date.now() + 10_000; reply.status === 403 && Date.now() < deadline; reply = await app.request('GET', '/me', { token })) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(reply.status, 200, `${app.name}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal((await ctx.app.request('GET', '/api/auth/verify', { token })).status, 200);
  });
});
