// Sessions are kept like tokens (docs/api.md §4): the database is the truth, so with Redis out of
// reach an instance still validates, issues, lists and ends sessions, and a session it ends is
// refused by an instance that still has Redis (and the session cached there).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { register, startInstance, useStack, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import type { DbKind } from '../helpers/databases.js';
import { Device, SESSION_COOKIE, eventually, signIn } from './helpers.js';

/** docs/api.md §3.6 gives other instances 100 ms; the test allows a wide margin. */
const OTHER_INSTANCE_WITHIN_MS = 1000;


/** An instance whose Redis is a port nobody listens on: it serves from the database. */
async function instanceWithoutRedis(env: Record<string, string>): Promise<TestApp> {
  return startInstance({ ...env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, { requireRedis: false });
}

const status = async (app: TestApp, device: Device) => (await app.request('GET', '/api/auth/me', device.read())).status;
const refusedSoon = (app: TestApp, device: Device) => eventually(async () => (await status(app, device)) === 401, OTHER_INSTANCE_WITHIN_MS);

for (const db of ['sqlite', 'postgres', 'mysql'] as DbKind[]) {
  describe(`sessions without Redis on ${db}`, () => {
    let withRedis: TestApp;
    let cut: TestApp;
    // Registered before useStack() so that `cut` is closed before the stack drops its database.
    after(async () => cut?.close());
    const ctx = useStack({ db, cache: 'redis' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });
    before(async () => {
      withRedis = ctx.app;
      cut = await instanceWithoutRedis(ctx.stack.env);
    });

    test('an instance cut off from Redis validates, issues, lists and ends sessions from the database', async () => {
      assert.equal(cut.latchkey.cache.status(), 'down');
      const { email, password } = await register(withRedis);
      const laptop = await signIn(withRedis, { email, password });
      assert.equal(await status(withRedis, laptop), 200); // cached in Redis now

      assert.equal(await status(cut, laptop), 200);
      const phone = await signIn(cut, { email, password });
      assert.equal(await status(cut, phone), 200);
      assert.equal(await status(withRedis, phone), 200);
      const listed = await cut.request('GET', '/api/auth/sessions', phone.read());
      assert.equal(listed.status, 200);
      const [laptopRow, phoneRow] = listed.body.sessions;
      assert.deepEqual([laptopRow.current, phoneRow.current], [false, true]);

      // The double submit does not depend on Redis either.
      assert.equal((await cut.request('DELETE', `/api/auth/sessions/${laptopRow.id}`, phone.forged())).status, 403);

      // Ended without Redis: refused here at once, and by the instance whose Redis still holds it.
      assert.equal((await cut.request('DELETE', `/api/auth/sessions/${laptopRow.id}`, phone.write())).status, 204);
      assert.equal(await status(cut, laptop), 401);
      assert.ok(await refusedSoon(withRedis, laptop));

      // Password change: a fresh cookie for this device, the old one refused everywhere.
      const changed = await cut.request('PUT', '/api/auth/password', phone.write({ current_password: password, password: 'changed-offline' }));
      assert.equal(changed.status, 200);
      const fresh = new Device(changed.cookies[SESSION_COOKIE]!, phone.xsrf);
      assert.equal(await status(cut, phone), 401);
      assert.ok(await refusedSoon(withRedis, phone));
      assert.equal(await status(withRedis, fresh), 200);

      // Sign-out.
      assert.equal((await cut.request('DELETE', '/api/auth/session', fresh.write())).status, 204);
      assert.equal(await status(cut, fresh), 401);
      assert.ok(await refusedSoon(withRedis, fresh));
    });
  });
}
