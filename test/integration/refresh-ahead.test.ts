// A credential still in use late in its CACHE_TTL is re-read in the background
// (CredentialCache.refreshAhead): no request waits for a busy credential's database read, a
// credential deleted behind latchkey's back is dropped at that read, before its TTL ends, and a
// burst of requests makes one read, not one each.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';

const TTL_MS = 8000;
/** Past the latest refresh point (REFRESH_AHEAD_TO, 0.85 of the TTL), with a margin before its end. */
const LATE_MS = 7000;
const QUIET = { CACHE_TTL: String(TTL_MS / 1000), LATCHKEY_EPOCH_POLL_MS: '3600000', LATCHKEY_LAST_USED_FLUSH: '3600' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function refreshes(app: TestApp): Promise<number> {
  return (await app.latchkey.metrics.refreshes.get()).values[0]?.value ?? 0;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(10);
  }
  assert.fail(`not within 1 s: ${what}`);
}

/**
 * A new token, validated once: its entry was read from the database at some instant between
 * `readAfter` and `readBy`.
 */
async function warmToken(app: TestApp): Promise<{ token: string; readAfter: number; readBy: number }> {
  const readAfter = Date.now();
  const { token } = await register(app);
  assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
  return { token, readAfter, readBy: Date.now() };
}

for (const [label, env] of [
  ['the in-process tier', {}],
  ['Redis alone', { LATCHKEY_MEMORY_CACHE_ENTRIES: '0' }],
] as const) {
  describe(`refresh ahead, from ${label}`, () => {
    const ctx = useStack({ db: 'sqlite', cache: 'redis' }, { ...QUIET, ...env });

    test('a credential used late in its TTL is re-read in the background and stays cached past it', async () => {
      const { token, readBy } = await warmToken(ctx.app);
      await sleep(readBy + LATE_MS - Date.now());
      const before = await refreshes(ctx.app);
      const queries = ctx.app.latchkey.store.queryCount();
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200);
      assert.equal(await refreshes(ctx.app), before + 1);
      await until('the refresh read the database', async () => ctx.app.latchkey.store.queryCount() > queries);

      // Past the first entry's TTL: the refreshed one answers, with no SQL on the request.
      await sleep(readBy + TTL_MS + 200 - Date.now());
      const after = ctx.app.latchkey.store.queryCount();
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200);
      assert.equal(ctx.app.latchkey.store.queryCount(), after);
    });

    test('a token deleted behind latchkey’s back is refused after the refresh, before its TTL ends', async () => {
      const { token, readAfter, readBy } = await warmToken(ctx.app);
      await ctx.app.latchkey.store.db.deleteFrom('personal_access_tokens').where('id', '=', Number(token.split('|')[0])).execute();
      await sleep(readBy + LATE_MS - Date.now());
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200, 'served while the refresh runs');
      await until('the token is refused', async () => (await ctx.app.request('GET', '/api/auth/me', { token })).status === 401);
      assert.ok(Date.now() < readAfter + TTL_MS, 'refused before its TTL ended');
    });

    test('a burst of late requests makes one refresh', async () => {
      const { token, readBy } = await warmToken(ctx.app);
      await sleep(readBy + LATE_MS - Date.now());
      const before = await refreshes(ctx.app);
      const replies = await Promise.all(Array.from({ length: 20 }, () => ctx.app.request('GET', '/api/auth/verify', { token })));
      assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
      assert.equal(await refreshes(ctx.app), before + 1);
    });
  });
}
