// docs/benchmarks.md: validating a token with a warm cache costs zero SQL statements — from
// the in-process tier, or from Redis when that tier is off — and last_used_at is written in
// batches (one UPDATE for many tokens), never once per request.
//
// The epoch poll (one tiny SELECT every LATCHKEY_EPOCH_POLL_MS, whatever the traffic), the mail
// outbox's poll (LATCHKEY_MAIL_POLL_MS) and the batch timer are pushed out of the measured window so that store.queryCount() counts only
// what requests do.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, register, useStack, type TestApp } from '../helpers/app.js';

const QUIET = { LATCHKEY_EPOCH_POLL_MS: '3600000', LATCHKEY_MAIL_POLL_MS: '3600000', LATCHKEY_LAST_USED_FLUSH: '3600' };
const TOKENS = 20;
const ROUNDS = 10;

/** A user with `count` tokens (the registration's and personal access tokens). */
async function userWithTokens(app: TestApp, count = TOKENS): Promise<string[]> {
  const { token } = await register(app);
  const tokens = [token];
  for (let i = 1; i < count; i++) {
    const reply = await app.request('POST', '/api/auth/tokens', { token, body: { name: `t${i}`, abilities: ['read'] } });
    assert.equal(reply.status, 201);
    tokens.push(reply.body.token);
  }
  return tokens;
}

/** Validates every token on /me and /verify once; returns the SQL statements that cost. */
async function validateAll(app: TestApp, tokens: string[]): Promise<number> {
  const before = app.latchkey.store.queryCount();
  for (const token of tokens) {
    const me = await app.request('GET', '/api/auth/me', { token });
    assert.equal(me.status, 200, JSON.stringify(me.body));
    const verify = await app.request('GET', '/api/auth/verify?ability=read', { token });
    assert.equal(verify.status, 200, JSON.stringify(verify.body));
  }
  return app.latchkey.store.queryCount() - before;
}

/**
 * Validates until a round costs nothing: the first reads the database and fills the caches,
 * and Redis fills are not awaited by the request. Bounded: a cache that never warms fails the
 * assertions that follow.
 */
async function warm(app: TestApp, tokens: string[]): Promise<void> {
  for (let i = 0; i < 50 && (await validateAll(app, tokens)) > 0; i++) await new Promise((r) => setTimeout(r, 20));
}

async function lookupsFrom(app: TestApp, tier: string): Promise<number> {
  const metric = await app.latchkey.metrics.cacheLookups.get();
  return metric.values.filter((v) => v.labels.tier === tier).reduce((n, v) => n + v.value, 0);
}

for (const backend of BACKENDS) {
  describe(`query count on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend, QUIET);

    test('a warm validation performs no SQL; last_used_at is written later, in one statement', async () => {
      const tokens = await userWithTokens(ctx.app);
      const cold = await validateAll(ctx.app, tokens.slice(1));
      assert.ok(cold >= TOKENS - 1, `never-used tokens are read from the database (${cold} statements): queryCount counts`);
      await warm(ctx.app, tokens);

      let statements = 0;
      for (let round = 0; round < ROUNDS; round++) statements += await validateAll(ctx.app, tokens);
      assert.equal(statements, 0, `${ROUNDS * TOKENS * 2} warm validations ran ${statements} SQL statements`);

      const ids = tokens.map((t) => Number(t.split('|')[0]));
      const db = ctx.app.latchkey.store.db;
      const unused = await db.selectFrom('personal_access_tokens').select('id').where('id', 'in', ids).where('last_used_at', 'is', null).execute();
      assert.equal(unused.length, TOKENS, 'nothing was written per request');

      const before = ctx.app.latchkey.store.queryCount();
      await ctx.app.latchkey.activity.flush();
      assert.equal(ctx.app.latchkey.store.queryCount() - before, 1, `one UPDATE for ${TOKENS} tokens`);
      const rows = await db.selectFrom('personal_access_tokens').select(['id', 'last_used_at']).where('id', 'in', ids).execute();
      assert.equal(rows.length, TOKENS);
      for (const row of rows) {
        assert.ok(row.last_used_at, `token ${row.id} has last_used_at`);
        assert.ok(Math.abs(Date.parse(`${String(row.last_used_at).replace(' ', 'T')}Z`) - Date.now()) < 120_000);
      }

      const idle = ctx.app.latchkey.store.queryCount();
      await ctx.app.latchkey.activity.flush();
      assert.equal(ctx.app.latchkey.store.queryCount(), idle, 'nothing pending, nothing written');
    });

    test('/me shows last_used_at before the batch is written, without a query', async () => {
      const token = (await userWithTokens(ctx.app, 2)).at(-1)!;
      await warm(ctx.app, [token]);
      const before = ctx.app.latchkey.store.queryCount();
      const me = await ctx.app.request('GET', '/api/auth/me', { token });
      assert.equal(ctx.app.latchkey.store.queryCount(), before);
      assert.ok(me.body.token.last_used_at, 'the in-memory use is shown');
    });
  });
}

for (const db of ['sqlite', 'postgres', 'mysql'] as const) {
  describe(`query count on ${db} with Redis and the in-process tier off`, () => {
    const ctx = useStack({ db, cache: 'redis' }, { ...QUIET, LATCHKEY_MEMORY_CACHE_ENTRIES: '0' });

    test('warm validations are served by Redis with no SQL', async () => {
      const tokens = await userWithTokens(ctx.app);
      await warm(ctx.app, tokens);
      const fromRedis = await lookupsFrom(ctx.app, 'redis');
      const fromMemory = await lookupsFrom(ctx.app, 'memory');
      let statements = 0;
      for (let round = 0; round < ROUNDS; round++) statements += await validateAll(ctx.app, tokens);
      assert.equal(statements, 0);
      assert.equal((await lookupsFrom(ctx.app, 'redis')) - fromRedis, ROUNDS * TOKENS * 2, 'every lookup was answered by Redis');
      assert.equal(await lookupsFrom(ctx.app, 'memory'), fromMemory, 'the in-process tier is off');
    });

    test('another instance on the same Redis validates with no SQL at all, even cold', async () => {
      const tokens = await userWithTokens(ctx.app, 5);
      await warm(ctx.app, tokens);
      const other = await ctx.stack.another();
      const before = other.latchkey.store.queryCount();
      for (const token of tokens) assert.equal((await other.request('GET', '/api/auth/me', { token })).status, 200);
      assert.equal(other.latchkey.store.queryCount() - before, 0);
    });
  });
}
