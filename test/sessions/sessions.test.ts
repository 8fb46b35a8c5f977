// docs/api.md §4 on every database with the real Redis: the XSRF-TOKEN cookie, session login with
// login-CSRF protection, the session cookie wherever a bearer token goes, the double submit on
// every cookie-authenticated state change, no fixation, idle expiry, devices, and every way a
// session ends (sign-out, DELETE /sessions/{id}, password change, a revoking login; the CLI in
// cli-revoke.test.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';
import type { DbKind } from '../helpers/databases.js';
import { fromSqlTime, toSqlTime } from '../../src/store/time.js';
import { Device, SESSION_COOKIE, XSRF_COOKIE, eventually, sessionLogin, setCookie, signIn, xsrfToken } from './helpers.js';

const PHONE = 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';
const LAPTOP = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
/** docs/api.md §3: other instances reject a revoked credential within 100 ms; tests allow a wide margin. */
const OTHER_INSTANCE_WITHIN_MS = 1000;

const status = async (app: TestApp, device: Device) => (await app.request('GET', '/api/auth/me', device.read())).status;
/** True once `app` refuses the device's cookie; for instances other than the one that revoked it. */
const refusedSoon = (app: TestApp, device: Device) => eventually(async () => (await status(app, device)) === 401, OTHER_INSTANCE_WITHIN_MS);

for (const db of ['sqlite', 'postgres', 'mysql'] as DbKind[]) {
  describe(`cookie sessions on ${db} with Redis`, () => {
    const ctx = useStack({ db, cache: 'redis' });
    /** A second instance on the same database and Redis, where logins do not revoke (several devices). */
    let multi: TestApp;
    before(async () => {
      multi = await ctx.stack.another({ LOGIN_REVOKES_OTHER_TOKENS: 'false' });
    });

    test('csrf-cookie sets XSRF-TOKEN readable by scripts; the session cookie is HttpOnly, SameSite=Lax, Path=/', async () => {
      const app = ctx.app;
      const csrf = await app.request('GET', '/api/auth/csrf-cookie');
      assert.equal(csrf.status, 204);
      const xsrf = setCookie(csrf, XSRF_COOKIE)!;
      assert.match(xsrf.value, /^[A-Za-z0-9]{40}$/);
      assert.ok(!xsrf.attributes.has('httponly'), 'scripts must read XSRF-TOKEN');
      assert.ok(xsrf.attributes.has('samesite=lax') && xsrf.attributes.has('path=/'));
      assert.ok(!xsrf.attributes.has('secure'), 'Secure only with SESSION_SECURE_COOKIE');

      const { email, password, user } = await register(app);
      const login = await app.request('POST', '/api/auth/session', {
        body: { email, password },
        cookies: { [XSRF_COOKIE]: xsrf.value },
        headers: { 'x-xsrf-token': xsrf.value },
      });
      assert.equal(login.status, 200);
      assert.deepEqual(Object.keys(login.body), ['user']);
      assert.equal(login.body.user.id, user.id);
      const session = setCookie(login, SESSION_COOKIE)!;
      assert.match(session.value, /^[A-Za-z0-9]{40}$/);
      for (const attribute of ['httponly', 'samesite=lax', 'path=/']) assert.ok(session.attributes.has(attribute), attribute);
      assert.ok(!session.attributes.has('secure'));
    });

    test('login CSRF: a session login without a matching X-XSRF-TOKEN is refused and sets no cookie', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      const xsrf = await xsrfToken(app);
      const attempts = [
        { cookies: { [XSRF_COOKIE]: xsrf } }, // header missing (a cross-site form post)
        { cookies: { [XSRF_COOKIE]: xsrf }, headers: { 'x-xsrf-token': `${xsrf}x` } }, // header wrong
        { headers: { 'x-xsrf-token': xsrf } }, // cookie missing
        { cookies: { [XSRF_COOKIE]: xsrf }, headers: { 'x-xsrf-token': '' } },
      ];
      for (const attempt of attempts) {
        const reply = await app.request('POST', '/api/auth/session', { body: { email, password }, ...attempt });
        assert.equal(reply.status, 403, JSON.stringify(attempt));
        assert.equal(reply.body.error.code, 'csrf_mismatch');
        assert.equal(setCookie(reply, SESSION_COOKIE), undefined);
      }
      // The header is compared with the cookie's URL-decoded value (what axios and Angular send).
      const encoded = await app.request('POST', '/api/auth/session', {
        body: { email, password },
        cookies: { [XSRF_COOKIE]: 'a b+c' },
        headers: { 'x-xsrf-token': 'a%20b%2Bc' },
      });
      assert.equal(encoded.status, 200);
      const wrong = await sessionLogin(app, { email, password: 'not the password' });
      assert.equal(wrong.reply.status, 401);
      assert.equal(wrong.reply.body.error.code, 'invalid_credentials');
    });

    test('no fixation: every login and password change issues a new id; a value set before login is never accepted', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      const planted = randomBytes(20).toString('hex'); // well-formed, but never issued
      const { reply } = await sessionLogin(app, { email, password }, { cookies: { [SESSION_COOKIE]: planted } });
      assert.equal(reply.status, 200);
      const issued = reply.cookies[SESSION_COOKIE]!;
      assert.notEqual(issued, planted);
      assert.equal((await app.request('GET', '/api/auth/me', { cookies: { [SESSION_COOKIE]: planted } })).status, 401);

      // Signing in again on the same browser replaces its session, even where logins do not revoke.
      const first = new Device(issued, await xsrfToken(app));
      const again = await sessionLogin(multi, { email, password }, { cookies: { [SESSION_COOKIE]: first.session } });
      assert.equal(again.reply.status, 200);
      const second = new Device(again.reply.cookies[SESSION_COOKIE]!, again.xsrf);
      assert.notEqual(second.session, first.session);
      assert.equal(await status(multi, first), 401);
      assert.ok(await refusedSoon(app, first));
      assert.equal(await status(app, second), 200);

      const changed = await app.request('PUT', '/api/auth/password', second.write({ current_password: password, password: 'another-password' }));
      assert.equal(changed.status, 200);
      const rotated = new Device(changed.cookies[SESSION_COOKIE]!, second.xsrf);
      assert.ok(rotated.session && rotated.session !== second.session, 'password change sets a fresh session cookie');
      assert.equal(await status(app, second), 401);
      assert.equal(await status(app, rotated), 200);
    });

    test('the cookie is accepted wherever a bearer token is: /me, /verify, /tokens, /sessions', async () => {
      const app = ctx.app;
      const { email, password, user } = await register(app);
      const device = await signIn(app, { email, password });
      const me = await app.request('GET', '/api/auth/me', device.read());
      assert.equal(me.status, 200);
      assert.deepEqual(me.body, { user: { ...me.body.user, id: user.id, email }, token: null });

      const verify = await app.request('GET', '/api/auth/verify?ability=orders:read', device.read());
      assert.equal(verify.status, 200);
      assert.equal(verify.body.user_id, user.id);
      assert.equal(verify.body.token_id, null);
      assert.equal(verify.headers['x-user-id'], String(user.id));
      assert.equal(verify.headers['x-token-id'], undefined);

      const created = await app.request('POST', '/api/auth/tokens', device.write({ name: 'ci' }));
      assert.equal(created.status, 201);
      const tokens = await app.request('GET', '/api/auth/tokens', device.read());
      assert.deepEqual(
        tokens.body.tokens.map((t: { name: string; current: boolean }) => [t.name, t.current]),
        [['ci', false]],
        'the session is not a token: /tokens lists only the personal access token',
      );
      assert.equal((await app.request('DELETE', `/api/auth/tokens/${created.body.token.split('|')[0]}`, device.write())).status, 204);
      assert.equal((await app.request('GET', '/api/auth/sessions', device.read())).status, 200);
      assert.equal((await app.request('HEAD', '/api/auth/me', device.read())).status, 200);
    });

    test('every cookie-authenticated state change without a matching X-XSRF-TOKEN is 403 csrf_mismatch and changes nothing', async () => {
      const app = multi;
      const { email, password, token } = await register(app);
      const device = await signIn(app, { email, password });
      const other = await signIn(app, { email, password }, { userAgent: PHONE });
      const tokenId = token.split('|')[0];
      const otherId = (await app.request('GET', '/api/auth/sessions', device.read())).body.sessions.find((s: { current: boolean }) => !s.current).id;
      const changes: [string, string, unknown][] = [
        ['POST', '/api/auth/logout', undefined],
        ['DELETE', '/api/auth/session', undefined],
        ['PUT', '/api/auth/password', { current_password: password, password: 'new-password-1' }],
        ['POST', '/api/auth/tokens', { name: 'sneaky' }],
        ['DELETE', `/api/auth/tokens/${tokenId}`, undefined],
        ['DELETE', `/api/auth/sessions/${otherId}`, undefined],
      ];
      for (const [method, url, body] of changes) {
        for (const options of [device.forged(body), device.write(body, { headers: { 'x-xsrf-token': 'not-the-cookie' } })]) {
          const reply = await app.request(method, url, options);
          assert.equal(reply.status, 403, `${method} ${url}`);
          assert.equal(reply.body.error.code, 'csrf_mismatch');
        }
      }
      assert.equal(await status(app, device), 200);
      assert.equal(await status(app, other), 200);
      assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
      const tokens = await app.request('GET', '/api/auth/tokens', device.read());
      assert.deepEqual(tokens.body.tokens.map((t: { name: string }) => t.name), ['auth_token']);
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password } })).status, 200, 'the password is unchanged');
    });

    test('bearer and cookie on one request: the bearer wins, needs no CSRF header; an invalid bearer is 401', async () => {
      const app = multi;
      const { email, password, token } = await register(app);
      const device = await signIn(app, { email, password });
      const me = await app.request('GET', '/api/auth/me', device.read({ token }));
      assert.equal(me.body.token.id, Number(token.split('|')[0]));
      const created = await app.request('POST', '/api/auth/tokens', device.read({ token, body: { name: 'via bearer' } }));
      assert.equal(created.status, 201);
      for (const bad of [`${token}x`, 'garbage', '']) {
        const reply = await app.request('GET', '/api/auth/me', device.read({ headers: { authorization: `Bearer ${bad}` } }));
        assert.equal(reply.status, 401, bad);
      }
      // DELETE /session ends a session; with a bearer token in front there is none to end.
      const signOut = await app.request('DELETE', '/api/auth/session', device.read({ token }));
      assert.equal(signOut.status, 404);
      assert.equal(await status(app, device), 200);
      assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
    });

    test('/sessions lists devices with the login ip and user agent and marks the current one', async () => {
      const app = multi;
      const { email, password } = await register(app);
      const laptop = await signIn(app, { email, password }, { userAgent: LAPTOP });
      const phone = await signIn(app, { email, password }, { userAgent: PHONE });
      const reply = await app.request('GET', '/api/auth/sessions', phone.read({ headers: { 'user-agent': 'something else' } }));
      assert.equal(reply.status, 200);
      const sessions = reply.body.sessions as Record<string, unknown>[];
      assert.equal(sessions.length, 2);
      assert.deepEqual(
        sessions.map((s) => [s.user_agent, s.ip, s.current]),
        [
          [LAPTOP, '127.0.0.1', false],
          [PHONE, '127.0.0.1', true],
        ],
      );
      for (const s of sessions) {
        assert.deepEqual(Object.keys(s).sort(), ['created_at', 'current', 'id', 'ip', 'last_active_at', 'user_agent']);
        assert.ok(Number.isInteger(s.id));
        assert.ok(!JSON.stringify(reply.body).includes(laptop.session) && !JSON.stringify(reply.body).includes(phone.session));
        assert.ok(Date.parse(s.last_active_at as string) >= Date.parse(s.created_at as string));
      }
      // A `*` token sees the same devices, none current.
      const { token } = (await app.request('POST', '/api/auth/tokens', phone.write({ name: 'admin' }))).body;
      const byToken = await app.request('GET', '/api/auth/sessions', { token });
      assert.deepEqual(byToken.body.sessions.map((s: { current: boolean }) => s.current), [false, false]);
      const limited = (await app.request('POST', '/api/auth/tokens', phone.write({ name: 'ro', abilities: ['read'] }))).body.token;
      assert.equal((await app.request('GET', '/api/auth/sessions', { token: limited })).body.error.code, 'forbidden');
    });

    test("DELETE /sessions/{id} ends one device at once, on every instance; 404 unless it is the user's", async () => {
      const app = multi;
      const observer = ctx.app; // another instance that has the sessions cached
      const { email, password } = await register(app);
      const laptop = await signIn(app, { email, password }, { userAgent: LAPTOP });
      const phone = await signIn(app, { email, password }, { userAgent: PHONE });
      assert.equal(await status(observer, phone), 200);
      const strangerAccount = await register(app);
      const stranger = await signIn(app, { email: strangerAccount.email, password: strangerAccount.password });
      const [laptopRow, phoneRow] = (await app.request('GET', '/api/auth/sessions', laptop.read())).body.sessions;
      const strangerRow = (await app.request('GET', '/api/auth/sessions', stranger.read())).body.sessions[0];

      for (const id of [strangerRow.id, 999999999, 'abc', '0', '-1']) {
        const reply = await app.request('DELETE', `/api/auth/sessions/${id}`, laptop.write());
        assert.equal(reply.status, 404, String(id));
        assert.equal(reply.body.error.code, 'not_found');
      }
      assert.equal(await status(app, stranger), 200);

      const ended = await app.request('DELETE', `/api/auth/sessions/${phoneRow.id}`, laptop.write());
      assert.equal(ended.status, 204);
      assert.equal(setCookie(ended, SESSION_COOKIE), undefined, "ending another device leaves this browser's cookie alone");
      assert.equal(await status(app, phone), 401);
      assert.ok(await refusedSoon(observer, phone));
      assert.equal(await status(app, laptop), 200);

      const self = await app.request('DELETE', `/api/auth/sessions/${laptopRow.id}`, laptop.write());
      assert.equal(self.status, 204);
      assert.ok(setCookie(self, SESSION_COOKIE)!.attributes.has('max-age=0') || /1970/.test(String(self.headers['set-cookie'])));
      assert.equal(await status(app, laptop), 401);
    });

    test('sign-out: DELETE /session and POST /logout end the session and clear the cookie', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      for (const [method, url] of [
        ['DELETE', '/api/auth/session'],
        ['POST', '/api/auth/logout'],
      ] as const) {
        const device = await signIn(app, { email, password });
        const reply = await app.request(method, url, device.write());
        assert.equal(reply.status, 204, url);
        const cleared = setCookie(reply, SESSION_COOKIE)!;
        assert.equal(cleared.value, '');
        assert.ok(cleared.attributes.has('path=/'));
        assert.equal(await status(app, device), 401);
        assert.equal((await app.request(method, url, device.write())).status, 401);
      }
    });

    test('password change and a revoking login end every session; a login that does not revoke keeps them', async () => {
      const app = ctx.app;
      const { email, password, token } = await register(app);
      const laptop = await signIn(multi, { email, password });
      const phone = await signIn(multi, { email, password });
      // Changed with a bearer token: every session ends, and no session cookie is set.
      const changed = await app.request('PUT', '/api/auth/password', { token, body: { current_password: password, password: 'second-password' } });
      assert.equal(changed.status, 200);
      assert.equal(setCookie(changed, SESSION_COOKIE), undefined);
      assert.equal(await status(app, laptop), 401);
      assert.ok(await refusedSoon(multi, laptop));
      assert.ok(await refusedSoon(multi, phone));

      // Changed from one device: the others end, this one continues on a fresh cookie.
      const a = await signIn(multi, { email, password: 'second-password' });
      const b = await signIn(multi, { email, password: 'second-password' });
      assert.equal(await status(multi, a), 200, 'a login that does not revoke keeps the other sessions');
      const fromA = await multi.request('PUT', '/api/auth/password', a.write({ current_password: 'second-password', password: 'third-password' }));
      assert.equal(fromA.status, 200);
      assert.equal(await status(multi, b), 401);
      assert.equal(await status(multi, a), 401);
      const aAgain = new Device(fromA.cookies[SESSION_COOKIE]!, a.xsrf);
      assert.equal(await status(multi, aAgain), 200);

      // A revoking login, with a bearer token or a cookie, ends the sessions too.
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'third-password' } })).status, 200);
      assert.equal(await status(app, aAgain), 401);
      assert.ok(await refusedSoon(multi, aAgain));
      const c = await signIn(multi, { email, password: 'third-password' });
      const bearer = (await app.request('POST', '/api/auth/login', { body: { email, password: 'third-password' } })).body.token;
      assert.equal(await status(app, c), 401);
      const d = await signIn(app, { email, password: 'third-password' });
      assert.equal((await app.request('GET', '/api/auth/me', { token: bearer })).status, 401, 'a revoking session login ends tokens');
      assert.equal(await status(app, d), 200);
    });

    test('session login shares the login rate limit', async () => {
      const app = ctx.app;
      const { email, password } = await register(app);
      const limit = ctx.app.config.loginRateLimit;
      for (let i = 0; i < limit; i++) {
        const failed = i % 2 === 0 ? await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-wrong' } }) : (await sessionLogin(app, { email, password: 'wrong-wrong' })).reply;
        assert.equal(failed.status, 401);
      }
      const limited = (await sessionLogin(app, { email, password })).reply;
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error.code, 'too_many_requests');
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.equal(setCookie(limited, SESSION_COOKIE), undefined);
      assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password } })).status, 429);
    });

    test('idle expiry after SESSION_LIFETIME: idle time counts, not age; a cached session is re-read within CACHE_TTL', async () => {
      // A one-minute lifetime and a one-second cache; time passes by rewriting the row's times.
      const short = { SESSION_LIFETIME: '1', CACHE_TTL: '1' };
      const app = await ctx.stack.another(short);
      const reader = await ctx.stack.another(short); // an instance that has seen no use of the sessions
      const database = app.latchkey.store.db;
      const setTimes = (id: number, lastActive: number, created = lastActive) =>
        database.updateTable('latchkey_sessions').set({ last_active_at: toSqlTime(lastActive), created_at: toSqlTime(created) }).where('id', '=', id).execute();
      const lastActiveInDb = async (id: number) =>
        fromSqlTime((await database.selectFrom('latchkey_sessions').select('last_active_at').where('id', '=', id).executeTakeFirstOrThrow()).last_active_at)!;
      const idOf = async (device: Device) =>
        (await app.request('GET', '/api/auth/sessions', device.read())).body.sessions.find((s: { current: boolean }) => s.current).id as number;
      const { email, password } = await register(app);

      // Created long ago but active now: valid.
      const active = await signIn(multi, { email, password });
      const activeId = await idOf(active);
      await setTimes(activeId, Date.now(), Date.now() - 10 * 60_000);
      assert.equal(await status(reader, active), 200);

      // Idle past the lifetime: refused once the cached copy (filled by `app`) is older than CACHE_TTL.
      const idle = await signIn(multi, { email, password });
      const idleId = await idOf(idle);
      await setTimes(idleId, Date.now() - 61_000);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await status(reader, idle), 401);
      const listed = await reader.request('GET', '/api/auth/sessions', active.read());
      assert.deepEqual(listed.body.sessions.map((s: { id: number }) => s.id), [activeId]);

      // Use is activity: what an instance saw is written back in batches.
      await setTimes(activeId, Date.now() - 30_000);
      assert.equal(await status(app, active), 200);
      await app.latchkey.activity.flush();
      assert.ok((await lastActiveInDb(activeId)) > Date.now() - 30_000, 'last_active_at moved forward');
    });

    test('a warm session validates with no SQL, from the in-process tier and from Redis alone', async () => {
      // The epoch poll and the activity flush are pushed out of the measured window.
      const quiet = { LATCHKEY_EPOCH_POLL_MS: '3600000', LATCHKEY_LAST_USED_FLUSH: '3600' };
      for (const app of [await ctx.stack.another(quiet), await ctx.stack.another({ ...quiet, LATCHKEY_MEMORY_CACHE_ENTRIES: '0' })]) {
        const { email, password } = await register(app);
        const device = await signIn(app, { email, password });
        const validate = async () => {
          const before = app.latchkey.store.queryCount();
          for (let i = 0; i < 5; i++) {
            assert.equal((await app.request('GET', '/api/auth/me', device.read())).status, 200);
            assert.equal((await app.request('GET', '/api/auth/verify', device.read())).status, 200);
          }
          return app.latchkey.store.queryCount() - before;
        };
        // The first read fills the tiers; the Redis fill is not awaited by the request (bounded).
        for (let i = 0; i < 50 && (await validate()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await validate(), 0);
      }
    });

    // Cookie attributes do not depend on the database: checked once.
    if (db === 'sqlite') test('SESSION_SECURE_COOKIE=true marks both cookies Secure', async () => {
      const app = await ctx.stack.another({ SESSION_SECURE_COOKIE: 'true' });
      const csrf = await app.request('GET', '/api/auth/csrf-cookie');
      assert.ok(setCookie(csrf, XSRF_COOKIE)!.attributes.has('secure'));
      const { email, password } = await register(app);
      const { reply } = await sessionLogin(app, { email, password });
      const session = setCookie(reply, SESSION_COOKIE)!;
      assert.ok(session.attributes.has('secure') && session.attributes.has('httponly'));
    });
  });
}
