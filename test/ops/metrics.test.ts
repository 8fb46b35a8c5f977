// /metrics, /healthz and /readyz (docs/api.md §3): after a known flow the counters hold exactly what
// happened, nothing secret appears in the text, METRICS_TOKEN protects it, and readiness
// reports the database and the cache as the contract says (503 only for the database).
import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { newSecret, sha256Hex } from '../../src/core/token-format.js';
import { VALIDATION_TIMING_SAMPLE } from '../../src/observability/metrics.js';
import { PruneScheduler } from '../../src/scheduler.js';
import { freshDatabase, PG_ADMIN_URL } from '../helpers/databases.js';
import { register, startStack, uniquePrefix, type TestApp } from '../helpers/app.js';
import { openInstance, sample } from './instance.js';
import { freePort } from './process.js';

async function metricsText(app: TestApp, token?: string): Promise<string> {
  const reply = await app.request('GET', '/metrics', { headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal(reply.status, 200);
  assert.match(String(reply.headers['content-type']), /^text\/plain/);
  return reply.body as string;
}

describe('metrics after a flow (in-process cache)', () => {
  test('counters, histograms and gauges hold what happened; no secret in the text', async () => {
    const stack = await startStack({ db: 'sqlite', cache: 'memory' });
    try {
      const app = stack.instance;
      const { token, email, password } = await register(app);
      for (let i = 0; i < 20; i++) assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
      // Wrong shapes: a non-numeric id, and a prefixed secret whose CRC32 does not match.
      for (const malformed of ['abc|def', `1|lk_${'a'.repeat(40)}00000000`]) assert.equal((await app.request('GET', '/api/auth/me', { token: malformed })).status, 401);
      const unknown = `999999|${newSecret('lk_')}`;
      assert.equal((await app.request('GET', '/api/auth/me', { token: unknown })).status, 401);
      // LOGIN_RATE_LIMIT=5: five wrong passwords, then the sixth attempt is refused.
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
      assert.equal(await new PruneScheduler(app.latchkey).tick(new Date()), true);

      const text = await metricsText(app);
      assert.equal(sample(text, 'latchkey_validations_total', { kind: 'token', outcome: 'valid' }), 20);
      assert.equal(sample(text, 'latchkey_validations_total', { kind: 'token', outcome: 'malformed' }), 2);
      assert.equal(sample(text, 'latchkey_validations_total', { kind: 'token', outcome: 'unknown' }), 1);
      // The first /me reads the database and fills the in-process tier; the next 19 hit it.
      assert.equal(sample(text, 'latchkey_cache_lookups_total', { tier: 'database' }), 2); // + the unknown token
      assert.equal(sample(text, 'latchkey_cache_lookups_total', { tier: 'memory' }), 19);
      assert.equal(sample(text, 'latchkey_cache_lookups_total', { tier: 'redis' }), undefined);
      assert.equal(sample(text, 'latchkey_cache_fallbacks_total'), 0);
      assert.equal(sample(text, 'latchkey_rate_limited_total'), 1);
      // The refused sixth attempt is answered before any password work and is not timed.
      assert.equal(sample(text, 'latchkey_login_duration_seconds_count'), 5);
      assert.equal(sample(text, 'latchkey_validation_duration_seconds_count'), Math.floor(23 / VALIDATION_TIMING_SAMPLE));
      assert.equal(sample(text, 'latchkey_prune_runs_total', { outcome: 'done' }), 1);
      assert.equal(sample(text, 'latchkey_database_up'), 1);
      assert.equal(sample(text, 'latchkey_redis_up'), 0);

      const secret = token.split('|')[1]!;
      for (const secretText of [token, secret, sha256Hex(secret), password, email, email.split('@')[0]!, unknown]) {
        assert.equal(text.includes(secretText), false, `metrics text contains ${secretText}`);
      }

      const ready = await app.request('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { database: 'up', cache: 'memory' });
      const health = await app.request('GET', '/healthz');
      assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);
    } finally {
      await stack.close();
    }
  });

  test('METRICS_TOKEN protects /metrics and nothing else', async () => {
    const stack = await startStack({ db: 'sqlite', cache: 'memory' }, { METRICS_TOKEN: 'scrape-secret-1' });
    try {
      const app = stack.instance;
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'scrape-secret-1' }] as Record<string, string>[]) {
        const reply = await app.request('GET', '/metrics', { headers });
        assert.equal(reply.status, 401);
        assert.equal(reply.body.error.code, 'unauthenticated');
        assert.equal(reply.headers['www-authenticate'], 'Bearer');
      }
      assert.match(await metricsText(app, 'scrape-secret-1'), /latchkey_validations_total/);
      assert.equal((await app.request('GET', '/healthz')).status, 200);
      assert.equal((await app.request('GET', '/readyz')).status, 200);
    } finally {
      await stack.close();
    }
  });

  test('without METRICS_TOKEN, /metrics is refused (403 naming METRICS_TOKEN) when HOST is not loopback, unless METRICS_PUBLIC=true', async () => {
    const stack = await startStack({ db: 'sqlite', cache: 'memory' }, { HOST: '0.0.0.0' });
    try {
      const refused = await stack.instance.request('GET', '/metrics');
      assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden']);
      assert.match(refused.body.error.message, /METRICS_TOKEN/);
      assert.match(refused.body.error.message, /METRICS_PUBLIC=true/);
      assert.equal((await stack.instance.request('GET', '/healthz')).status, 200, 'only /metrics');
      assert.match(await metricsText(await stack.another({ METRICS_PUBLIC: 'true' })), /latchkey_validations_total/);
      const tokened = await stack.another({ METRICS_TOKEN: 'scrape-secret-2' });
      assert.equal((await tokened.request('GET', '/metrics')).status, 401);
      assert.match(await metricsText(tokened, 'scrape-secret-2'), /latchkey_validations_total/);
      for (const HOST of ['localhost', '127.0.0.2', '::1']) {
        assert.match(await metricsText(await stack.another({ HOST })), /latchkey_validations_total/, `HOST=${HOST} is loopback`);
      }
    } finally {
      await stack.close();
    }
  });
});

describe('metrics with Redis', () => {
  test('a token cached by one instance is a Redis hit on another; redis_up is 1', async () => {
    const stack = await startStack({ db: 'sqlite', cache: 'redis' });
    try {
      const a = stack.instance;
      const b = await stack.another();
      const { token } = await register(a);
      assert.equal((await a.request('GET', '/api/auth/me', { token })).status, 200);
      // The fill to Redis is asynchronous: wait (bounded) until it landed.
      const key = `${stack.env.CACHE_PREFIX}t:${sha256Hex(token.split('|')[1]!)}`;
      for (let i = 0; i < 100 && !(await a.latchkey.cache.redis!.client.exists(key)); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await b.request('GET', '/api/auth/me', { token })).status, 200);
      assert.equal((await b.request('GET', '/api/auth/me', { token })).status, 200);
      const text = await metricsText(b);
      // B never read the database: Redis first, then Redis or its own tier (once that is trusted).
      const redisHits = sample(text, 'latchkey_cache_lookups_total', { tier: 'redis' }) ?? 0;
      assert.ok(redisHits >= 1);
      assert.equal(redisHits + (sample(text, 'latchkey_cache_lookups_total', { tier: 'memory' }) ?? 0), 2);
      assert.equal(sample(text, 'latchkey_cache_lookups_total', { tier: 'database' }), undefined);
      assert.equal(sample(text, 'latchkey_redis_up'), 1);
      assert.deepEqual((await b.request('GET', '/readyz')).body, { database: 'up', cache: 'up' });
    } finally {
      await stack.close();
    }
  });

  test('Redis unreachable: lookups fall back to the database and are counted; readyz stays 200 with cache "down"', async () => {
    const stack = await startStack({ db: 'sqlite', cache: 'memory' });
    const nothingThere = await freePort();
    const down = await openInstance({ ...stack.env, CACHE_PREFIX: uniquePrefix(), REDIS_URL: `redis://127.0.0.1:${nothingThere}`, REDIS_TIMEOUT: '50' });
    try {
      const { token } = await register(stack.instance);
      for (let i = 0; i < 3; i++) {
        const me = await down.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });
        assert.equal(me.statusCode, 200);
      }
      const text = (await down.app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.equal(sample(text, 'latchkey_cache_fallbacks_total'), 3);
      assert.equal(sample(text, 'latchkey_cache_lookups_total', { tier: 'database' }), 3);
      assert.equal(sample(text, 'latchkey_redis_up'), 0);
      const ready = await down.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { database: 'up', cache: 'down' });
    } finally {
      await down.close();
      await stack.close();
    }
  });
});

/** A TCP relay to PostgreSQL that the test can cut, to take "the database" down. */
async function relayTo(port: number): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('readiness with the database down', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('readyz answers 503 {database: "down"}, healthz stays 200, database_up is 0', async () => {
    const database = await freshDatabase('postgres');
    cleanups.push(database.drop);
    const relay = await relayTo(Number(new URL(PG_ADMIN_URL).port || 5432));
    const url = new URL(database.url);
    url.port = String(relay.port);
    const instance = await openInstance({ DATABASE_URL: url.toString(), CACHE_PREFIX: uniquePrefix() });
    cleanups.push(() => instance.close());
    assert.equal((await instance.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);

    await relay.cut();
    const ready = await instance.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json(), { database: 'down', cache: 'memory' });
    assert.equal((await instance.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const text = (await instance.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.equal(sample(text, 'latchkey_database_up'), 0);
  });
});
