// Redis as a cache, never a dependency, and never a source of stale truth (docs/revocation.md), with
// a redis-server of the test's own (append-only file, fsync on every write): killed and restarted
// from the same data, frozen with SIGSTOP under load, and absent when latchkey starts.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { decodeEntry } from '../../src/cache/entry.js';
import { register, startInstance, startStack, uniquePrefix, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/databases.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { captureLogs, POLL_MARGIN_MS, rawRedis, sleep, status, tokenKey, waitUntil, WINDOW_MS } from './support.js';

const REDIS_TIMEOUT_MS = 250;
/** For a loaded, shared 2-core test machine; a request that waited for a frozen Redis would take seconds. */
const LATENCY_MARGIN_MS = 1000;

async function metric(app: TestApp, name: string): Promise<number> {
  const text = (await app.request('GET', '/metrics')).body as string;
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('Redis faults: a redis-server of our own, PostgreSQL', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function ownRedis(port?: number): Promise<RedisServer> {
    const server = await startRedisServer(port);
    cleanups.push(() => server.close());
    return server;
  }

  test('killed while tokens are cached, a revocation meanwhile, restarted from its AOF with the old entry: still rejected everywhere', async () => {
    const server = await ownRedis();
    const stack = await startStack({ db: 'postgres', cache: 'redis' }, { REDIS_URL: server.url });
    cleanups.push(() => stack.close());
    const A = stack.instance;
    const B = await stack.another();
    const { token: revoked } = await register(A);
    const { token: kept } = await register(A);
    for (const app of [A, B]) for (const t of [revoked, kept]) assert.equal(await status(app, t), 200);
    const key = stack.env.CACHE_PREFIX + tokenKey(revoked);
    let raw = rawRedis(server.url);
    const cached = await raw.get(key);
    raw.disconnect();
    assert.ok(cached !== null && decodeEntry(cached) !== undefined, 'the token is cached in Redis');

    await server.stop('SIGKILL');
    await waitUntil('both instances see Redis down', () => A.latchkey.cache.status() === 'down' && B.latchkey.cache.status() === 'down');
    assert.equal((await A.request('POST', '/api/auth/logout', { token: revoked })).status, 204);
    const returned = performance.now();
    assert.equal(await status(A, revoked), 401);
    await waitUntil('B rejects', async () => (await status(B, revoked)) === 401, WINDOW_MS + POLL_MARGIN_MS + 1000);
    assert.ok(performance.now() - returned < WINDOW_MS + POLL_MARGIN_MS + 1000);

    await server.start();
    raw = rawRedis(server.url);
    assert.equal(await raw.get(key), cached, 'Redis came back holding the revoked token’s old entry');
    raw.disconnect();
    await waitUntil('both instances trust Redis again', () => A.latchkey.cache.status() === 'up' && B.latchkey.cache.status() === 'up');
    for (let i = 0; i < 3; i++) {
      for (const app of [A, B]) {
        assert.equal(await status(app, revoked), 401);
        assert.equal(await status(app, kept), 200);
      }
    }
  });

  test('frozen with SIGSTOP under load: no request fails or waits longer than REDIS_TIMEOUT; logged once, counted, /readyz says down, then up', async () => {
    const server = await ownRedis();
    const database = await freshDatabase('postgres');
    cleanups.push(() => database.drop());
    const env = { DATABASE_URL: database.url, CACHE_PREFIX: uniquePrefix(), REDIS_URL: server.url, REDIS_TIMEOUT: String(REDIS_TIMEOUT_MS) };
    const logsA = captureLogs();
    const logsB = captureLogs();
    const A = await startInstance(env, { logger: logsA.logger });
    cleanups.push(() => A.close());
    const B = await startInstance(env, { logger: logsB.logger });
    cleanups.push(() => B.close());

    const users = await Promise.all(Array.from({ length: 12 }, () => register(A)));
    const kept = users.slice(0, 8).map((u) => u.token);
    const doomed = users.slice(8).map((u) => u.token);
    for (const app of [A, B]) for (const t of [...kept, ...doomed]) assert.equal(await status(app, t), 200);

    const samples: { ms: number; status: number; what: string }[] = [];
    const timed = async (what: string, run: () => Promise<number>) => {
      const start = performance.now();
      const code = await run();
      samples.push({ ms: performance.now() - start, status: code, what });
      return code;
    };
    let loading = true;
    const load = Promise.all(
      Array.from({ length: 6 }, async (_, lane) => {
        for (let i = 0; loading; i++) {
          const app = (lane + i) % 2 ? A : B;
          const token = kept[(lane + i) % kept.length]!;
          await timed('validate', () => status(app, token, i % 2 ? '/api/auth/verify' : '/api/auth/me'));
          await sleep(2);
        }
      }),
    );
    await sleep(300);
    server.pause();
    try {
      await sleep(400);
      for (const token of doomed) assert.equal(await timed('logout', async () => (await A.request('POST', '/api/auth/logout', { token })).status), 204);
      const u = users[0]!;
      assert.equal(await timed('login', async () => (await B.request('POST', '/api/auth/login', { body: { email: u.email, password: u.password } })).status), 200);
      kept[0] = (await B.request('POST', '/api/auth/login', { body: { email: u.email, password: u.password } })).body.token;
      const ready = await A.request('GET', '/readyz');
      assert.deepEqual([ready.status, ready.body], [200, { database: 'up', cache: 'down' }]);
      await sleep(1500);
    } finally {
      server.resume();
    }
    await waitUntil('both instances use Redis again', () => A.latchkey.cache.status() === 'up' && B.latchkey.cache.status() === 'up');
    await sleep(200);
    loading = false;
    await load;

    const failed = samples.filter((s) => s.status >= 500 || (s.what === 'validate' && s.status !== 200 && s.status !== 401));
    assert.deepEqual(failed, [], 'no request failed');
    const slowest = Math.max(...samples.map((s) => s.ms));
    const top = [...samples].sort((a, b) => b.ms - a.ms).slice(0, 3).map((s) => `${s.what} ${s.ms.toFixed(0)} ms`);
    console.log(`# ${samples.length} requests across the freeze; slowest: ${top.join(", ")} (REDIS_TIMEOUT ${REDIS_TIMEOUT_MS} ms)`);
    assert.ok(slowest < REDIS_TIMEOUT_MS + LATENCY_MARGIN_MS, `a request waited ${slowest.toFixed(0)} ms`);
    for (const app of [A, B]) for (const t of doomed) assert.equal(await status(app, t), 401);
    for (const logs of [logsA, logsB]) {
      assert.equal(logs.count('redis_down'), 1, 'the fallback is logged once per instance');
      assert.equal(logs.count('redis_up'), 2, 'connected, then back');
    }
    assert.ok((await metric(A, 'latchkey_cache_fallbacks_total')) > 0);
    assert.equal((await A.request('GET', '/readyz')).body.cache, 'up');
  });

  test('started with Redis unreachable: everything works from the database, then Redis is picked up when it appears', async () => {
    const port = await freePort();
    const database = await freshDatabase('postgres');
    cleanups.push(() => database.drop());
    const prefix = uniquePrefix();
    const logs = captureLogs();
    const A = await startInstance({ DATABASE_URL: database.url, CACHE_PREFIX: prefix, REDIS_URL: `redis://127.0.0.1:${port}` }, { logger: logs.logger, requireRedis: false });
    cleanups.push(() => A.close());

    const ready = await A.request('GET', '/readyz');
    assert.deepEqual([ready.status, ready.body], [200, { database: 'up', cache: 'down' }]);
    const { token, email, password } = await register(A);
    for (let i = 0; i < 10; i++) assert.equal(await status(A, token, i % 2 ? '/api/auth/verify' : '/api/auth/me'), 200);
    const login = await A.request('POST', '/api/auth/login', { body: { email, password } });
    assert.equal(login.status, 200);
    assert.equal(await status(A, token), 401, 'login revoked the earlier token');
    assert.equal((await A.request('POST', '/api/auth/logout', { token: login.body.token })).status, 204);
    assert.equal(await status(A, login.body.token), 401);
    assert.equal(logs.count('redis_down'), 1, 'logged once, not per request');
    assert.ok((await metric(A, 'latchkey_cache_fallbacks_total')) >= 10);

    const server = await ownRedis(port);
    await waitUntil('latchkey picks Redis up', () => A.latchkey.cache.status() === 'up', 10_000);
    assert.equal((await A.request('GET', '/readyz')).body.cache, 'up');
    assert.equal(logs.count('redis_up'), 1);
    const fresh = (await A.request('POST', '/api/auth/login', { body: { email, password } })).body.token as string;
    assert.equal(await status(A, fresh), 200);
    const raw = rawRedis(server.url);
    await waitUntil('the token is cached in Redis', async () => decodeEntry((await raw.get(prefix + tokenKey(fresh))) ?? '') !== undefined, 2000);
    raw.disconnect();
  });
});
