// Revoked means rejected (docs/revocation.md; docs/api.md §3.6), raced one token at a time: on PostgreSQL and a
// shared Redis, instance B validates while instance A logs out or deletes the token, 700 times,
// over cold, Redis-cached and memory-cached tokens. After each revocation returns A must reject
// at once and B within WINDOW_MS (see support.ts for how each validation is judged).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LANES, useRaceStack } from './race-stack.js';
import { inLanes, tokenId } from './support.js';

describe('revocation races, one token each: postgres, redis, two instances', () => {
  const r = useRaceStack();

  test('logout: 350 interleavings', async () => {
    await inLanes(await r.tokenPool(350), LANES, async ({ token, round }) => {
      await r.warm(token, round);
      await r.race('logout', [token], async () => assert.equal((await r.A.request('POST', '/api/auth/logout', { token })).status, 204));
    });
  });

  test('DELETE /api/auth/tokens/{id}: 350 interleavings', async () => {
    await inLanes(await r.tokenPool(350), LANES, async ({ token, master, round }) => {
      await r.warm(token, round);
      await r.race('token delete', [token], async () =>
        assert.equal((await r.A.request('DELETE', `/api/auth/tokens/${tokenId(token)}`, { token: master })).status, 204),
      );
    });
  });
});
