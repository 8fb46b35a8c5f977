// The interleavings that break a naive cache, forced deterministically with the cache's
// afterLoad hook (a validation holds its database result while the revocation runs) and a TCP
// proxy between one instance and Redis (cut, or silently stalled). PostgreSQL and Redis are real.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { decodeEntry } from '../../src/cache/entry.js';
import { REDIS_URL, register, useStack, type TestApp } from '../helpers/app.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { mintTokens, POLL_MARGIN_MS, rawRedis, status, tokenKey, waitUntil, WINDOW_MS } from './support.js';

/** Makes the next database read of `key` on `app` wait until release(). */
function holdLoad(app: TestApp, key: string) {
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const releaseP = new Promise<void>((r) => (release = r));
  const hooks = app.cacheHooks;
  hooks.afterLoad = async (loaded) => {
    if (loaded !== key) return;
    hooks.afterLoad = undefined;
    reached();
    await releaseP;
  };
  return { reached: reachedP, release };
}

/** Validations on `app` until `until`; returns the acceptances that started at or after `from`. */
async function acceptedFrom(app: TestApp, token: string, from: number, until: number): Promise<number[]> {
  const late: number[] = [];
  while (performance.now() < until) {
    const start = performance.now();
    if ((await status(app, token)) === 200 && start >= from) late.push(start);
    await new Promise((r) => setTimeout(r, 2));
  }
  return late;
}

describe('forced races: postgres, redis, instances behind proxies', () => {
  const ctx = useStack({ db: 'postgres', cache: 'redis' });
  let A: TestApp; // direct to Redis
  let B: TestApp; // the observer, through proxyB
  let R: TestApp; // a revoker that can be cut off from Redis, through proxyR
  let proxyB: TcpProxy;
  let proxyR: TcpProxy;
  let redis: Redis;
  let master: { token: string; user: { id: number } };
  const key = (token: string) => ctx.stack.env.CACHE_PREFIX + tokenKey(token);

  before(async () => {
    const port = Number(new URL(REDIS_URL).port || 6379);
    proxyB = await TcpProxy.start({ port });
    proxyR = await TcpProxy.start({ port });
    A = ctx.app;
    B = await ctx.stack.another({ REDIS_URL: `redis://127.0.0.1:${proxyB.port}` });
    R = await ctx.stack.another({ REDIS_URL: `redis://127.0.0.1:${proxyR.port}` });
    redis = rawRedis(REDIS_URL);
    master = await register(A);
  });
  after(async () => {
    redis?.disconnect();
    await proxyB?.close();
    await proxyR?.close();
  });

  test('refill race, 60 rounds: a read from before the revocation never refills Redis, nor memory past the window', async () => {
    const tokens = await mintTokens(A, master.user.id, 60);
    for (const [round, token] of tokens.entries()) {
      const gate = holdLoad(B, tokenKey(token));
      const inflight = status(B, token);
      await gate.reached; // B has read the live row and holds it
      const revoke = round % 2 === 0 ? A.request('POST', '/api/auth/logout', { token }) : A.request('DELETE', `/api/auth/tokens/${token.split('|')[0]}`, { token: master.token });
      assert.equal((await revoke).status, 204);
      const returned = performance.now();
      assert.equal(await status(A, token), 401, 'the revoker rejects at once');
      // Half the rounds: B's stale result lands after B applied the invalidation (the generation
      // check must drop it); the other half: before it (the invalidation must then remove it).
      const afterInvalidation = round % 4 >= 2;
      if (afterInvalidation) await new Promise((r) => setTimeout(r, 3 * 20));
      gate.release();
      assert.equal(await inflight, 200, 'the held validation read the row before the revocation (the race really happened)');
      assert.equal(await redis.get(key(token)), '!', 'the stale fill was refused by the tombstone');
      if (afterInvalidation) assert.equal(await status(B, token), 401, 'the stale result entered B’s memory after the invalidation');
      assert.deepEqual(await acceptedFrom(B, token, returned + WINDOW_MS, Math.max(performance.now(), returned + WINDOW_MS) + 10), []);
    }
  });

  test('refill race on the epoch path, 10 rounds: the revoker cannot reach Redis, the stale fill lands and is ignored', async () => {
    await proxyR.cut();
    await waitUntil('R sees Redis down', () => R.latchkey.cache.status() === 'down');
    try {
      for (const token of await mintTokens(A, master.user.id, 10)) {
        const gate = holdLoad(B, tokenKey(token));
        const inflight = status(B, token);
        await gate.reached;
        assert.equal((await R.request('POST', '/api/auth/logout', { token })).status, 204);
        const returned = performance.now();
        assert.equal(await status(R, token), 401, 'the revoker rejects at once');
        gate.release();
        assert.equal(await inflight, 200);
        const late = [...(await acceptedFrom(A, token, returned + WINDOW_MS + POLL_MARGIN_MS, returned + WINDOW_MS + POLL_MARGIN_MS + 100)), ...(await acceptedFrom(B, token, returned + WINDOW_MS + POLL_MARGIN_MS, performance.now() + 50))];
        assert.deepEqual(late, []);
        const stale = await redis.get(key(token));
        assert.ok(stale === null || stale === '!' || decodeEntry(stale)!.epoch < B.latchkey.cache.currentEpoch, 'whatever Redis holds for it belongs to an older epoch');
      }
    } finally {
      await proxyR.restore();
      await waitUntil('R trusts Redis again', () => R.latchkey.cache.status() === 'up');
    }
  });

  test('a validation that began while B was disconnected cannot fill B’s memory after B reconnects, 5 rounds', async () => {
    for (const token of await mintTokens(A, master.user.id, 5)) {
      await proxyB.cut();
      await waitUntil('B sees Redis down', () => B.latchkey.cache.status() === 'down');
      const gate = holdLoad(B, tokenKey(token));
      const inflight = status(B, token);
      await gate.reached;
      // The tombstone and its message reach Redis while B is not subscribed.
      assert.equal((await A.request('POST', '/api/auth/logout', { token })).status, 204);
      await proxyB.restore();
      await waitUntil('B trusts Redis and its memory again', () => B.latchkey.cache.redis!.coherent);
      gate.release();
      assert.equal(await inflight, 200);
      assert.equal(await status(B, token), 401, 'B’s memory must not hold what it read before it reconnected');
    }
  });

  test('a silent partition between B and Redis: B stops trusting its memory within the lease, 3 rounds', async () => {
    for (const token of await mintTokens(A, master.user.id, 3)) {
      assert.equal(await status(B, token), 200);
      await waitUntil('the token is in B’s memory', async () => (await status(B, token)) === 200 && B.latchkey.cache.redis!.coherent);
      proxyB.stall(); // B's connections stay open; nothing flows
      try {
        assert.equal((await A.request('POST', '/api/auth/logout', { token })).status, 204);
        const returned = performance.now();
        const late = await acceptedFrom(B, token, returned + WINDOW_MS, returned + WINDOW_MS + 400);
        assert.deepEqual(late, [], 'B accepted the revoked token from memory past the window');
      } finally {
        proxyB.unstall();
      }
      await waitUntil('B uses Redis again', () => B.latchkey.cache.status() === 'up' && B.latchkey.cache.redis!.coherent);
    }
  });
});
