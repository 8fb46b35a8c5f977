// The cache epoch costs an idle instance next to nothing: it reads the epoch once a second
// rather than every LATCHKEY_EPOCH_POLL_MS, and the first validation after an idle spell reads it
// before trusting any cached copy, so the epoch path's window holds all the same.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config.js';
import { tokensRevoke } from '../../src/cli/commands.js';
import { register, testEnv, useStack } from '../helpers/app.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the cache epoch on an idle instance: postgres, in-process cache', () => {
  const ctx = useStack({ db: 'postgres', cache: 'memory' }, { LATCHKEY_LAST_USED_FLUSH: '3600' });

  test('reads the epoch about once a second while idle, not 20 times', async () => {
    await sleep(1500); // past the start and into idleness
    const before = ctx.app.latchkey.store.queryCount();
    await sleep(3000);
    const queries = ctx.app.latchkey.store.queryCount() - before;
    assert.ok(queries <= 5, `${queries} queries in 3 s of idleness`);
  });

  test('the first validation after an idle spell sees a revocation made through the epoch', async () => {
    const { token, user } = await register(ctx.app);
    assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200, 'cached now');
    await sleep(1500);
    // The CLI without Redis tells running instances through the epoch only.
    await tokensRevoke(parseConfig(testEnv(ctx.stack.env)), { user: String(user.id) });
    assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 401);
  });
});
