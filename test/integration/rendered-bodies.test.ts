// /me and /verify keep each credential's rendered body (src/http/rendered-bodies.ts): the same
// bytes as a fresh serialisation, never another credential's, and /me's last_used_at current.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';

const JSON_TYPE = 'application/json; charset=utf-8';

interface Issued {
  token: string;
  tokenId: number;
  userId: number;
  email: string;
  abilities: string[];
}

/** Two users with two tokens each, of different abilities. */
async function issueTokens(app: TestApp): Promise<Issued[]> {
  const issued: Issued[] = [];
  for (let u = 0; u < 2; u++) {
    const { token, user } = await register(app);
    for (const abilities of [['read'], ['read', 'write']]) {
      const reply = await app.request('POST', '/api/auth/tokens', { token, body: { name: `t-${abilities.length}`, abilities } });
      assert.equal(reply.status, 201);
      const plain = reply.body.token as string;
      issued.push({ token: plain, tokenId: Number(plain.split('|')[0]), userId: user.id, email: user.email, abilities });
    }
  }
  return issued;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const [label, env] of [
  ['the in-process tier', {}],
  ['Redis alone (a new entry per request)', { LATCHKEY_MEMORY_CACHE_ENTRIES: '0' }],
] as const) {
  describe(`rendered /me and /verify bodies, served from ${label}`, () => {
    const ctx = useStack({ db: 'sqlite', cache: 'redis' }, env);

    test('each token gets its own body, the same every time, as JSON', async () => {
      const issued = await issueTokens(ctx.app);
      for (let round = 0; round < 3; round++) {
        for (const t of issued) {
          const me = await ctx.app.request('GET', '/api/auth/me', { token: t.token });
          assert.equal(me.status, 200);
          assert.equal(me.headers['content-type'], JSON_TYPE);
          assert.equal(me.body.user.id, t.userId);
          assert.equal(me.body.user.email, t.email);
          assert.equal(me.body.token.id, t.tokenId);
          assert.deepEqual(me.body.token.abilities, t.abilities);
          assert.equal(me.body.token.current, true);

          const verify = await ctx.app.request('GET', '/api/auth/verify', { token: t.token });
          assert.equal(verify.status, 200);
          assert.equal(verify.headers['content-type'], JSON_TYPE);
          assert.deepEqual(verify.body, { user_id: t.userId, token_id: t.tokenId, abilities: t.abilities, expires_at: verify.body.expires_at });
          assert.match(verify.body.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          assert.equal(verify.headers['x-user-id'], String(t.userId));
          assert.equal(verify.headers['x-token-id'], String(t.tokenId));
        }
      }
    });

    test("/me's last_used_at moves on to the latest second of use", async () => {
      const [t] = await issueTokens(ctx.app);
      const first = (await ctx.app.request('GET', '/api/auth/me', { token: t!.token })).body.token.last_used_at as string;
      assert.ok(first, 'the use is shown');
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token: t!.token })).body.token.last_used_at, first, 'whole seconds');
      await sleep(1100);
      const later = (await ctx.app.request('GET', '/api/auth/me', { token: t!.token })).body.token.last_used_at as string;
      assert.ok(Date.parse(later) > Date.parse(first), `${later} after ${first}`);
    });

    test('a revoked token is refused, not answered from its kept body', async () => {
      const [t] = await issueTokens(ctx.app);
      assert.equal((await ctx.app.request('GET', '/api/auth/verify', { token: t!.token })).status, 200);
      assert.equal((await ctx.app.request('POST', '/api/auth/logout', { token: t!.token })).status, 204);
      assert.equal((await ctx.app.request('GET', '/api/auth/verify', { token: t!.token })).status, 401);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token: t!.token })).status, 401);
    });
  });
}
