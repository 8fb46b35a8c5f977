// docs/api.md §1 TRUST_PROXY and §3 rate limit: the client IP in the (email, IP) rate-limit key is
// the socket's unless latchkey is told to trust a proxy; then it comes from X-Forwarded-For.
// Requests come from 127.0.0.1 (Fastify inject's socket address).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';

const LIMIT = 5;

async function failLogins(app: TestApp, email: string, forwardedFor: (i: number) => string | undefined): Promise<void> {
  for (let i = 0; i < LIMIT; i++) {
    const xff = forwardedFor(i);
    const reply = await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' }, headers: xff ? { 'x-forwarded-for': xff } : {} });
    assert.equal(reply.status, 401);
  }
}

const login = (app: TestApp, email: string, password: string, xff?: string) =>
  app.request('POST', '/api/auth/login', { body: { email, password }, headers: xff ? { 'x-forwarded-for': xff } : {} });

for (const cache of ['memory', 'redis'] as const) {
  describe(`TRUST_PROXY=false (the default) with ${cache} cache`, () => {
    const ctx = useStack({ db: 'sqlite', cache });

    test('X-Forwarded-For is ignored: changing it does not escape the limit', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      await failLogins(app, email, (i) => `203.0.113.${i + 1}`);
      for (const xff of ['198.51.100.7', '10.0.0.1, 198.51.100.8', undefined]) {
        const reply = await login(app, email, password, xff);
        assert.equal(reply.status, 429, `X-Forwarded-For: ${xff}`);
      }
    });

    test('the session records the socket address, not X-Forwarded-For', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      const csrf = await app.request('GET', '/api/auth/csrf-cookie');
      const xsrf = csrf.cookies['XSRF-TOKEN']!;
      const session = await app.request('POST', '/api/auth/session', {
        body: { email, password },
        headers: { 'x-xsrf-token': xsrf, 'x-forwarded-for': '203.0.113.50' },
        cookies: { 'XSRF-TOKEN': xsrf },
      });
      assert.equal(session.status, 200);
      const list = await app.request('GET', '/api/auth/sessions', { cookies: { latchkey_session: session.cookies.latchkey_session! } });
      assert.equal(list.body.sessions[0].ip, '127.0.0.1');
    });
  });

  describe(`TRUST_PROXY=true with ${cache} cache`, () => {
    const ctx = useStack({ db: 'sqlite', cache }, { TRUST_PROXY: 'true' });

    test('the client IP comes from X-Forwarded-For: each address has its own counter', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      await failLogins(app, email, () => '203.0.113.9');
      assert.equal((await login(app, email, password, '203.0.113.9')).status, 429, 'the limited address stays limited');
      assert.equal((await login(app, email, password, '198.51.100.1')).status, 200, 'another client is not');
      // The left-most address is the client when every hop is trusted.
      assert.equal((await login(app, email, password, '203.0.113.9, 10.0.0.2')).status, 429);
    });
  });
}

describe('TRUST_PROXY as a list of proxy addresses', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' }, { TRUST_PROXY: '127.0.0.1/32, 10.0.0.0/8' });

  test('a trusted proxy (the socket, 127.0.0.1) passes on the client from X-Forwarded-For', async () => {
    const app = ctx.app;
    const { email, password } = await register(app);
    // 10.0.0.5 is a trusted proxy too, so the client is the address before it.
    await failLogins(app, email, () => '203.0.113.20, 10.0.0.5');
    assert.equal((await login(app, email, password, '203.0.113.20')).status, 429);
    assert.equal((await login(app, email, password, '198.51.100.20, 10.0.0.5')).status, 200);
  });

  test('an untrusted socket address is the client, whatever X-Forwarded-For says', async () => {
    const other = await ctx.stack.another({ TRUST_PROXY: '10.0.0.0/8' });
    const { email, password } = await register(other);
    await failLogins(other, email, (i) => `203.0.113.${30 + i}`);
    assert.equal((await login(other, email, password, '198.51.100.30')).status, 429);
  });
});
