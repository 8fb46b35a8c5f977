// The seed's flows on every database and cache: register, login (revoking earlier tokens),
// logout, me, password change, personal access tokens with abilities, verify.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, register, useStack } from '../helpers/app.js';

for (const backend of BACKENDS) {
  describe(`flows on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend);

    test('register returns a Sanctum-shaped token that works at once', async () => {
      const app = ctx.app;
      const reply = await app.request('POST', '/api/auth/register', { body: { email: '  Mixed.Case@Example.COM ', password: 'password-1', name: 'Ann' } });
      assert.equal(reply.status, 201);
      assert.match(reply.body.token, /^\d+\|lk_[A-Za-z0-9]{40}[0-9a-f]{8}$/);
      assert.equal(reply.body.token_type, 'Bearer');
      assert.equal(reply.body.user.email, 'mixed.case@example.com');
      assert.equal(reply.body.user.name, 'Ann');
      const expires = Date.parse(reply.body.expires_at) - Date.now();
      assert.ok(Math.abs(expires - 43200 * 60_000) < 5000, 'expires 30 days after creation');
      const me = await app.request('GET', '/api/auth/me', { token: reply.body.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.user.id, reply.body.user.id);
      assert.equal(me.body.token.current, true);
      assert.deepEqual(me.body.token.abilities, ['*']);
    });

    test('register refuses a taken email in any case', async () => {
      const app = ctx.app;
      const { email } = await register(app);
      const reply = await app.request('POST', '/api/auth/register', { body: { email: email.toUpperCase(), password: 'password-2' } });
      assert.equal(reply.status, 409);
      assert.equal(reply.body.error.code, 'email_taken');
    });

    test('login revokes earlier tokens; logout revokes the presented one', async () => {
      const app = ctx.app;
      const { token: first, email, password } = await register(app);
      assert.equal((await app.request('GET', '/api/auth/me', { token: first })).status, 200);
      const login = await app.request('POST', '/api/auth/login', { body: { email: email.toUpperCase(), password, device_name: 'phone' } });
      assert.equal(login.status, 200);
      const second = login.body.token;
      const old = await app.request('GET', '/api/auth/me', { token: first });
      assert.equal(old.status, 401);
      assert.equal(old.body.error.code, 'unauthenticated');
      assert.equal(old.headers['www-authenticate'], 'Bearer');
      const me = await app.request('GET', '/api/auth/me', { token: second });
      assert.equal(me.body.token.name, 'phone');
      assert.equal((await app.request('POST', '/api/auth/logout', { token: second })).status, 204);
      assert.equal((await app.request('GET', '/api/auth/me', { token: second })).status, 401);
    });

    test('wrong email and wrong password get the same answer', async () => {
      const app = ctx.app;
      const { email } = await register(app);
      const wrongPassword = await app.request('POST', '/api/auth/login', { body: { email, password: 'nope-nope' }, headers: { 'x-forwarded-for': '1.1.1.1' } });
      const wrongEmail = await app.request('POST', '/api/auth/login', { body: { email: `x${email}`, password: 'nope-nope' } });
      assert.equal(wrongPassword.status, 401);
      assert.deepEqual(wrongPassword.body, wrongEmail.body);
      assert.equal(wrongPassword.body.error.code, 'invalid_credentials');
    });

    test('password change revokes every token and returns a fresh one', async () => {
      const app = ctx.app;
      const { token, email, password } = await register(app);
      const pat = (await app.request('POST', '/api/auth/tokens', { token, body: { name: 'ci' } })).body.token;
      const wrong = await app.request('PUT', '/api/auth/password', { token, body: { current_password: 'not it!!', password: 'brand-new-pw' } });
      assert.equal(wrong.status, 422);
      assert.ok(wrong.body.error.fields.current_password);
      const changed = await app.request('PUT', '/api/auth/password', { token, body: { current_password: password, password: 'brand-new-pw' } });
      assert.equal(changed.status, 200);
      assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 401);
      assert.equal((await app.request('GET', '/api/auth/me', { token: pat })).status, 401);
      assert.equal((await app.request('GET', '/api/auth/me', { token: changed.body.token })).status, 200);
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password } })).status, 401);
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'brand-new-pw' } })).status, 200);
    });

    test('personal access tokens: abilities, listing, deletion, verify', async () => {
      const app = ctx.app;
      const { token } = await register(app);
      const created = await app.request('POST', '/api/auth/tokens', { token, body: { name: 'reader', abilities: ['posts:read'], expires_in_minutes: 10 } });
      assert.equal(created.status, 201);
      const limited = created.body.token;
      assert.ok(Math.abs(Date.parse(created.body.expires_at) - Date.now() - 600_000) < 5000);

      const verify = await app.request('GET', '/api/auth/verify?ability=posts:read', { token: limited });
      assert.equal(verify.status, 200);
      assert.equal(verify.headers['x-user-id'], String(verify.body.user_id));
      assert.equal(verify.headers['x-token-id'], String(verify.body.token_id));
      assert.equal((await app.request('GET', '/api/auth/verify?ability=posts:write', { token: limited })).status, 403);
      assert.equal((await app.request('GET', '/api/auth/me', { token: limited })).status, 200);
      const forbidden = await app.request('GET', '/api/auth/tokens', { token: limited });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error.code, 'forbidden');

      const list = await app.request('GET', '/api/auth/tokens', { token });
      assert.equal(list.status, 200);
      assert.equal(list.body.tokens.length, 2);
      const limitedId = Number(limited.split('|')[0]);
      assert.equal(list.body.tokens.find((t: any) => t.current).current, true);
      assert.equal((await app.request('DELETE', `/api/auth/tokens/${limitedId}`, { token })).status, 204);
      assert.equal((await app.request('GET', '/api/auth/me', { token: limited })).status, 401);
      assert.equal((await app.request('DELETE', `/api/auth/tokens/${limitedId}`, { token })).status, 404);
      assert.equal((await app.request('DELETE', '/api/auth/tokens/abc', { token })).status, 404);
    });

    test("a user cannot delete another user's token", async () => {
      const app = ctx.app;
      const a = await register(app);
      const b = await register(app);
      const bId = Number(b.token.split('|')[0]);
      assert.equal((await app.request('DELETE', `/api/auth/tokens/${bId}`, { token: a.token })).status, 404);
      assert.equal((await app.request('GET', '/api/auth/me', { token: b.token })).status, 200);
    });

    test('login is rate limited per email and IP, even with the right password', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      for (let i = 0; i < 5; i++) {
        assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } })).status, 401);
      }
      const limited = await app.request('POST', '/api/auth/login', { body: { email, password } });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error.code, 'too_many_requests');
      assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60);
    });
  });
}
