// Every row of docs/api.md §3.2's error table, with its status, code and body shape, and the design rule's
// "bad input gets a clear 4xx, never a 5xx": odd bodies, headers and tokens, SQL and
// Redis-protocol metacharacters in every field, and 503 when the database is unreachable.
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { Redis } from 'ioredis';
import { BACKENDS, REDIS_URL, register, startInstance, useStack, type Reply, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/databases.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sha256Hex } from '../../src/core/token-format.js';

const KIB = 1024;

/** The error body of docs/api.md §3: `{"error": {"code", "message", "fields"?}}`, nothing else. */
function assertError(reply: Reply, status: number, code: string, fields?: string[]) {
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status} ${JSON.stringify(reply.body)}`);
  assert.match(String(reply.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(reply.body), ['error']);
  const error = reply.body.error;
  assert.equal(error.code, code);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0);
  if (code === 'validation_failed') {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'fields', 'message']);
    for (const problem of Object.values(error.fields)) assert.equal(typeof problem, 'string');
    if (fields) assert.deepEqual(Object.keys(error.fields).sort(), [...fields].sort());
  } else {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message']);
  }
}

function assertUnauthenticated(reply: Reply) {
  assertError(reply, 401, 'unauthenticated');
  assert.equal(reply.headers['www-authenticate'], 'Bearer');
}

const json = { 'content-type': 'application/json' };

/** Percent-encodes for a URL; a lone surrogate becomes the invalid UTF-8 a client could send. */
function uriPart(value: string): string {
  try {
    return uriPart(value);
  } catch {
    return '%ED%A0%80';
  }
}

const ERROR_BACKENDS = BACKENDS.filter(
  (b) => (b.db === 'sqlite' && b.cache === 'memory') || (b.db === 'postgres' && b.cache === 'redis') || (b.db === 'mysql' && b.cache === 'memory'),
);

for (const backend of ERROR_BACKENDS) {
  describe(`errors on ${backend.db} with ${backend.cache} cache`, () => {
    const ctx = useStack(backend);

    test('400 bad_request: a body that is not JSON', async () => {
      const { token } = await register(ctx.app);
      for (const raw of ['{', '{"email": }', 'not json', '{"a":1} trailing', "{'single':'quotes'}", '\u0000']) {
        assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: raw, headers: json }), 400, 'bad_request');
        assertError(await ctx.app.request('POST', '/api/auth/register', { rawBody: raw, headers: json }), 400, 'bad_request');
        assertError(await ctx.app.request('POST', '/api/auth/tokens', { token, rawBody: raw, headers: json }), 400, 'bad_request');
      }
    });

    test('400 bad_request: JSON that is not an object', async () => {
      const { token } = await register(ctx.app);
      for (const raw of ['[]', '[{"email":"a@b.c"}]', '"a string"', 'null', '42', '-1.5', 'true']) {
        assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: raw, headers: json }), 400, 'bad_request');
        assertError(await ctx.app.request('POST', '/api/auth/register', { rawBody: raw, headers: json }), 400, 'bad_request');
        assertError(await ctx.app.request('POST', '/api/auth/tokens', { token, rawBody: raw, headers: json }), 400, 'bad_request');
        assertError(await ctx.app.request('PUT', '/api/auth/password', { token, rawBody: raw, headers: json }), 400, 'bad_request');
      }
    });

    test('400 bad_request: prototype poisoning is refused', async () => {
      const raw = '{"email":"a@b.c","password":"password-1","__proto__":{"isAdmin":true}}';
      assertError(await ctx.app.request('POST', '/api/auth/register', { rawBody: raw, headers: json }), 400, 'bad_request');
    });

    test('401 unauthenticated for every header shape, with WWW-Authenticate: Bearer', async () => {
      const { token } = await register(ctx.app);
      const [id, secret] = token.split('|') as [string, string];
      const other = await register(ctx.app);
      const otherId = other.token.split('|')[0]!;
      const body = secret.slice(3, 43);
      const wrongCrc = `lk_${body}${(Number.parseInt(secret.slice(43), 16) ^ 1).toString(16).padStart(8, '0')}`;
      const shapes: (string | undefined)[] = [
        undefined, // no header at all
        '',
        'Basic dXNlcjpwYXNz',
        'Basic x',
        'Bearer',
        'Bearer ',
        'Bearer a b',
        `Bearer ${token} extra`,
        `Bearer ${token},${token}`,
        `Token ${token}`,
        `${token}`,
        'bearer nonsense',
        'Bearer null',
        'Bearer undefined',
        `Bearer ${id}|${wrongCrc}`,
        `Bearer ${wrongCrc}`,
        `Bearer abc|${secret}`,
        `Bearer 0|${secret}`,
        `Bearer -${id}|${secret}`,
        `Bearer ${2n ** 63n}|${secret}`,
        `Bearer 99999999999999999999999999|${secret}`,
        `Bearer ${Number(id) + 100000}|${secret}`,
        `Bearer ${otherId}|${secret}`, // a valid secret behind another token's id
        `Bearer ${id}|${other.token.split('|')[1]}`, // and the other way round
        `Bearer ${id}|`,
        `Bearer |${secret}`,
        `Bearer ${'A'.repeat(10 * KIB)}`,
        `Bearer ${id}|${'x'.repeat(64 * KIB)}`,
        'Bearer ünïcødé-tøkén',
        `Bearer ${id}|lk_${'é'.repeat(40)}00000000`,
        'Bearer 🔑🔑🔑',
        `Bearer ${id}|${secret}\u0001`,
        `Bearer ${id}|\u007f${secret.slice(1)}`,
        `Bearer ${id}|%00${secret}`,
        "Bearer '; drop table users; --",
        'Bearer \r\n*1\r\n$8\r\nFLUSHALL\r\n',
      ];
      for (const authorization of shapes) {
        const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
        for (const url of ['/api/auth/me', '/api/auth/verify', '/api/auth/tokens']) {
          assertUnauthenticated(await ctx.app.request('GET', url, { headers }));
        }
        assertUnauthenticated(await ctx.app.request('POST', '/api/auth/logout', { headers }));
      }
      // None of them revoked or disturbed the real token.
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200);
    });

    test('tokens of the wrong shape are rejected without touching the cache or the database', async () => {
      const { token } = await register(ctx.app);
      const secret = token.split('|')[1]!;
      const lookups = [mock.method(ctx.app.latchkey.cache, 'cached'), mock.method(ctx.app.latchkey.cache, 'lookup')];
      try {
        for (const raw of [`0|${secret}`, `abc|${secret}`, `${2n ** 63n}|${secret}`, `1|${secret.slice(0, -1)}x`, `1|${'a'.repeat(300)}`, '1|ünï']) {
          assertUnauthenticated(await ctx.app.request('GET', '/api/auth/me', { token: raw }));
        }
        assert.equal(lookups.reduce((n, spy) => n + spy.mock.callCount(), 0), 0);
      } finally {
        for (const spy of lookups) spy.mock.restore();
      }
    });

    test('a token with a wrong CRC32 never reaches Redis or the database (the in-process tier may be asked)', async () => {
      const { token } = await register(ctx.app);
      const fetches = mock.method(ctx.app.latchkey.cache, 'lookup');
      try {
        const last = token.at(-1)!;
        const badChecksum = `${token.slice(0, -1)}${last === '0' ? '1' : '0'}`;
        assertUnauthenticated(await ctx.app.request('GET', '/api/auth/me', { token: badChecksum }));
        assert.equal(fetches.mock.callCount(), 0);
      } finally {
        fetches.mock.restore();
      }
    });

    test('a bare secret without {id}| works (looked up by its hash, as Sanctum does)', async () => {
      const { token, user } = await register(ctx.app);
      const secret = token.split('|')[1]!;
      const me = await ctx.app.request('GET', '/api/auth/me', { token: secret });
      assert.equal(me.status, 200);
      assert.equal(me.body.user.id, user.id);
      assert.equal(me.body.token.id, Number(token.split('|')[0]));
    });

    test('the auth scheme is case-insensitive (RFC 7235, and Sanctum): lowercase "bearer" with a valid token works', async () => {
      const { token } = await register(ctx.app);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { headers: { authorization: `bearer ${token}` } })).status, 200);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { headers: { authorization: `BEARER ${token}` } })).status, 200);
    });

    test('401 unauthenticated for an expired token', async () => {
      const { token } = await register(ctx.app);
      const fresh = await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: 'soon expired' } });
      const id = Number(fresh.body.token.split('|')[0]);
      // Never validated, so nothing is cached: the row is read as it is now.
      await ctx.app.latchkey.store.db.updateTable('personal_access_tokens').set({ expires_at: '2020-01-01 00:00:00' }).where('id', '=', id).execute();
      assertUnauthenticated(await ctx.app.request('GET', '/api/auth/me', { token: fresh.body.token }));
    });

    test('401 invalid_credentials: wrong email or password, the same body', async () => {
      const { email } = await register(ctx.app);
      const wrongPassword = await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } });
      const unknownEmail = await ctx.app.request('POST', '/api/auth/login', { body: { email: `nobody-${email}`, password: 'wrong-password' } });
      assertError(wrongPassword, 401, 'invalid_credentials');
      assert.deepEqual(unknownEmail.body, wrongPassword.body);
      assert.equal(unknownEmail.status, 401);
    });

    test('403 forbidden: a token without * cannot manage the account; verify checks the ability', async () => {
      const { token } = await register(ctx.app);
      const limited = (await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: 'ro', abilities: ['read'] } })).body.token;
      assertError(await ctx.app.request('GET', '/api/auth/tokens', { token: limited }), 403, 'forbidden');
      assertError(await ctx.app.request('POST', '/api/auth/tokens', { token: limited, body: { name: 'escalate', abilities: ['*'] } }), 403, 'forbidden');
      assertError(await ctx.app.request('DELETE', `/api/auth/tokens/${token.split('|')[0]}`, { token: limited }), 403, 'forbidden');
      assertError(
        await ctx.app.request('PUT', '/api/auth/password', { token: limited, body: { current_password: 'correct horse', password: 'new-password' } }),
        403,
        'forbidden',
      );
      assertError(await ctx.app.request('GET', '/api/auth/verify?ability=write', { token: limited }), 403, 'forbidden');
      assert.equal((await ctx.app.request('GET', '/api/auth/verify?ability=read', { token: limited })).status, 200);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token: limited })).status, 200);
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200, 'the * token was not deleted');
    });

    test('404 not_found: unknown routes and methods, and tokens that are not the user’s', async () => {
      const { token } = await register(ctx.app);
      for (const [method, url] of [
        ['GET', '/'],
        ['GET', '/nope'],
        ['POST', '/api/auth/nope'],
        ['GET', '/api/auth/login'],
        ['PATCH', '/api/auth/me'],
        ['GET', '/api/auth/tokens/1/extra'],
        ['GET', `/api/auth/${'x'.repeat(5000)}`],
      ] as const) {
        assertError(await ctx.app.request(method, url, { token }), 404, 'not_found');
      }
      for (const id of ['999999', '0', '-1', 'abc', '1.5', '99999999999999999999', "1;drop table users"]) {
        assertError(await ctx.app.request('DELETE', `/api/auth/tokens/${encodeURIComponent(id)}`, { token }), 404, 'not_found');
      }
    });

    test('409 email_taken, whatever the case and spacing', async () => {
      const { email } = await register(ctx.app);
      for (const taken of [email, email.toUpperCase(), `  ${email}\t`]) {
        assertError(await ctx.app.request('POST', '/api/auth/register', { body: { email: taken, password: 'password-2' } }), 409, 'email_taken');
      }
    });

    test('413 payload_too_large over 64 KiB, a 1 MB password included', async () => {
      const { token } = await register(ctx.app);
      const frame = (pad: number) => `{"email":"limit@example.com","password":"pppppppppp","pad":"${'x'.repeat(pad)}"}`;
      const padded = frame(64 * KIB - Buffer.byteLength(frame(0)));
      assert.equal(Buffer.byteLength(padded), 64 * KIB);
      assert.notEqual((await ctx.app.request('POST', '/api/auth/login', { rawBody: padded, headers: json })).status, 413, 'exactly 64 KiB is allowed');
      const over = padded.replace('"pad":"', '"pad":"x');
      assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: over, headers: json }), 413, 'payload_too_large');

      const megabyte = 'p'.repeat(1024 * KIB);
      assertError(await ctx.app.request('POST', '/api/auth/register', { body: { email: 'big@example.com', password: megabyte } }), 413, 'payload_too_large');
      assertError(await ctx.app.request('POST', '/api/auth/login', { body: { email: 'big@example.com', password: megabyte } }), 413, 'payload_too_large');
      assertError(await ctx.app.request('PUT', '/api/auth/password', { token, body: { current_password: megabyte, password: megabyte } }), 413, 'payload_too_large');
      // Too large is refused whatever the Content-Type.
      assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: megabyte, headers: { 'content-type': 'text/plain' } }), 413, 'payload_too_large');
    });

    test('415 unsupported_media_type for a non-empty body that is not JSON; an empty one is fine where none is needed', async () => {
      const { token } = await register(ctx.app);
      const body = '{"email":"a@b.c","password":"password-1"}';
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', 'text/json']) {
        assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: body, headers: { 'content-type': type } }), 415, 'unsupported_media_type');
        assertError(await ctx.app.request('POST', '/api/auth/tokens', { token, rawBody: '{"name":"x"}', headers: { 'content-type': type } }), 415, 'unsupported_media_type');
      }
      assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: body }), 415, 'unsupported_media_type');
      // Parameters such as charset are allowed, and the media type is case-insensitive.
      for (const type of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON']) {
        assertError(await ctx.app.request('POST', '/api/auth/login', { rawBody: '{}', headers: { 'content-type': type } }), 422, 'validation_failed');
      }
      // An empty body with another Content-Type is fine on logout.
      assert.equal((await ctx.app.request('POST', '/api/auth/logout', { token, rawBody: '', headers: { 'content-type': 'text/plain' } })).status, 204);
      const again = await register(ctx.app);
      assert.equal((await ctx.app.request('POST', '/api/auth/logout', { token: again.token, rawBody: '', headers: json })).status, 204);
    });

    test('422 validation_failed on register names every field', async () => {
      const cases: [Record<string, unknown>, string[]][] = [
        [{}, ['email', 'password']],
        [{ email: '', password: '' }, ['email', 'password']],
        [{ email: 'a@b.c' }, ['password']],
        [{ password: 'password-1' }, ['email']],
        [{ email: 42, password: 'password-1' }, ['email']],
        [{ email: ['a@b.c'], password: 'password-1' }, ['email']],
        [{ email: { $ne: null }, password: 'password-1' }, ['email']],
        [{ email: true, password: 12345678 }, ['email', 'password']],
        [{ email: 'not-an-email', password: 'password-1' }, ['email']],
        [{ email: 'two@@example.com', password: 'password-1' }, ['email']],
        [{ email: 'sp ace@example.com', password: 'password-1' }, ['email']],
        [{ email: `${'a'.repeat(250)}@example.com`, password: 'password-1' }, ['email']],
        [{ email: 'a@b.c', password: 'short' }, ['password']],
        [{ email: 'a@b.c', password: 'p'.repeat(73) }, ['password']],
        [{ email: 'a@b.c', password: 'é'.repeat(37) }, ['password']], // 74 bytes of UTF-8
        [{ email: 'a@b.c', password: 'password-1', name: 5 }, ['name']],
        [{ email: 'a@b.c', password: 'password-1', name: 'n'.repeat(256) }, ['name']],
        [{ email: 'a@b.c', password: 'password-1', device_name: ['x'] }, ['device_name']],
        [{ email: 'a@b.c', password: 'password-1', device_name: 'd'.repeat(256) }, ['device_name']],
        [{ email: 'a\u0000@b.c', password: 'password-1' }, ['email']],
        [{ email: 'a@b.c', password: 'password-1', name: 'a\u0000b' }, ['name']],
      ];
      for (const [body, fields] of cases) {
        assertError(await ctx.app.request('POST', '/api/auth/register', { body }), 422, 'validation_failed', fields);
      }
    });

    test('422 validation_failed on login for missing or non-string fields', async () => {
      for (const [body, fields] of [
        [{}, ['email', 'password']],
        [{ email: 'a@b.c' }, ['password']],
        [{ email: null, password: 'password-1' }, ['email']],
        [{ email: 1, password: ['password-1'] }, ['email', 'password']],
        [{ email: 'a@b.c', password: { toString: 'x' } }, ['password']],
        [{ email: 'a@b.c', password: 'password-1', device_name: ['x'] }, ['device_name']],
        [{ email: 'a@b.c', password: 'password-1', device_name: 'd'.repeat(256) }, ['device_name']],
      ] as [Record<string, unknown>, string[]][]) {
        assertError(await ctx.app.request('POST', '/api/auth/login', { body }), 422, 'validation_failed', fields);
      }
    });

    test('422 validation_failed on new tokens: name, expires_in_minutes, abilities', async () => {
      const { token } = await register(ctx.app);
      const cases: [Record<string, unknown>, string[]][] = [
        [{}, ['name']],
        [{ name: '' }, ['name']],
        [{ name: 7 }, ['name']],
        [{ name: 'n'.repeat(256) }, ['name']],
        [{ name: 'x', expires_in_minutes: '10' }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: 0 }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: -1 }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: 1.5 }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: true }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: 1e300 }, ['expires_in_minutes']],
        [{ name: 'x', expires_in_minutes: Number.MAX_SAFE_INTEGER }, ['expires_in_minutes']],
        [{ name: 'x', abilities: 'read' }, ['abilities']],
        [{ name: 'x', abilities: [1, 2] }, ['abilities']],
        [{ name: 'x', abilities: ['read', null] }, ['abilities']],
        [{ name: 'x', abilities: [''] }, ['abilities']],
        [{ name: 'x', abilities: [] }, ['abilities']],
        [{ name: 'x', abilities: { 0: 'read' } }, ['abilities']],
        [{ name: 'x', abilities: [['read']] }, ['abilities']],
        [{ name: 'x', abilities: Array.from({ length: 1000 }, (_, i) => `a${i}`) }, ['abilities']],
        [{ name: 7, expires_in_minutes: '10', abilities: 'x' }, ['name', 'expires_in_minutes', 'abilities']],
      ];
      for (const [body, fields] of cases) {
        assertError(await ctx.app.request('POST', '/api/auth/tokens', { token, body }), 422, 'validation_failed', fields);
      }
      // The largest lifetime is accepted, capped by TOKEN_EXPIRATION.
      const ok = await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: 'x', expires_in_minutes: 60 * 24 * 365 } });
      assert.equal(ok.status, 201);
      assert.ok(Math.abs(Date.parse(ok.body.expires_at) - Date.now() - 43200 * 60_000) < 5000, 'capped by TOKEN_EXPIRATION');
    });

    test('422 validation_failed on password change', async () => {
      const { token } = await register(ctx.app);
      const cases: [Record<string, unknown>, string[]][] = [
        [{}, ['current_password', 'password']],
        [{ current_password: 'correct horse' }, ['password']],
        [{ current_password: 'correct horse', password: 'short' }, ['password']],
        [{ current_password: 'correct horse', password: 'p'.repeat(73) }, ['password']],
        [{ current_password: 5, password: 'password-new' }, ['current_password']],
        [{ current_password: 'wrong one', password: 'password-new' }, ['current_password']],
      ];
      for (const [body, fields] of cases) {
        assertError(await ctx.app.request('PUT', '/api/auth/password', { token, body }), 422, 'validation_failed', fields);
      }
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200, 'nothing was revoked');
    });

    test('429 too_many_requests with Retry-After in seconds', async () => {
      const { email, password } = await register(ctx.app);
      for (let i = 0; i < 5; i++) await ctx.app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } });
      const limited = await ctx.app.request('POST', '/api/auth/login', { body: { email, password } });
      assertError(limited, 429, 'too_many_requests');
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
    });

    test('SQL and Redis-protocol metacharacters in every field get a clean 4xx or success; the tables are intact', async () => {
      const nasty = [
        "'; drop table users; --",
        '"; drop table personal_access_tokens; --',
        "' OR '1'='1",
        '\r\n*1\r\n$8\r\nFLUSHALL\r\n',
        '*1\r\n$8\r\nFLUSHDB\r\n',
        '%00',
        '%27%3B',
        '😀🔑',
        '\u202eevil',
        '\\',
        '`',
        '${jndi:ldap://127.0.0.1/x}',
        '<script>alert(1)</script>',
        '\ud800',
      ];
      const db = ctx.app.latchkey.store.db;
      const count = async () => Number((await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
      const sentinel = backend.cache === 'redis' ? new Redis(REDIS_URL) : undefined;
      const sentinelKey = `${ctx.stack.env.CACHE_PREFIX}unrelated-sentinel`;
      await sentinel?.set(sentinelKey, 'still here');
      try {
        const { token } = await register(ctx.app);
        const before = await count();
        let registered = 0;
        const clean = (reply: Reply, label: string) => {
          assert.ok(reply.status < 500, `${label}: ${reply.status} ${JSON.stringify(reply.body)}`);
          return reply;
        };
        for (const [i, value] of nasty.entries()) {
          const email = `n${i}.${value.replace(/[\s@]/g, '')}@example.com`;
          for (const body of [
            { email: value, password: 'password-1' },
            { email, password: `pw-${value}-long-enough`, name: value, device_name: value },
          ]) {
            const reply = clean(await ctx.app.request('POST', '/api/auth/register', { body }), `register ${JSON.stringify(body)}`);
            if (reply.status === 201) {
              registered++;
              const login = clean(await ctx.app.request('POST', '/api/auth/login', { body: { email: body.email, password: body.password, device_name: value } }), 'login');
              assert.equal(login.status, 200);
              const me = await ctx.app.request('GET', '/api/auth/me', { token: login.body.token });
              assert.equal(me.body.token.name, value === '\ud800' ? me.body.token.name : value);
            }
          }
          clean(await ctx.app.request('POST', '/api/auth/login', { body: { email: value, password: value } }), 'login');
          clean(await ctx.app.request('POST', '/api/auth/login', { body: { email, password: value, device_name: value } }), 'login');
          clean(await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: value, abilities: [value, '*'] } }), 'tokens');
          clean(await ctx.app.request('GET', `/api/auth/verify?ability=${uriPart(value)}`, { token }), 'verify');
          clean(await ctx.app.request('DELETE', `/api/auth/tokens/${uriPart(value)}`, { token }), 'delete');
          clean(await ctx.app.request('GET', '/api/auth/me', { headers: { authorization: `Bearer ${uriPart(value)}` } }), 'me');
        }
        assert.ok(registered > 0, 'some of them are legitimate values and were accepted');
        assert.equal(await count(), before + registered, 'the users table is intact');
        const tokens = await ctx.app.request('GET', '/api/auth/tokens', { token });
        assert.equal(tokens.status, 200);
        assert.ok(tokens.body.tokens.some((t: { name: string }) => t.name === "'; drop table users; --"), 'stored verbatim');
        if (sentinel) assert.equal(await sentinel.get(sentinelKey), 'still here', 'no Redis command was injected');
      } finally {
        await sentinel?.del(sentinelKey);
        sentinel?.disconnect();
      }
    });

    test('the stored token is only its SHA-256', async () => {
      const { token } = await register(ctx.app);
      const [id, secret] = token.split('|') as [string, string];
      const row = await ctx.app.latchkey.store.db.selectFrom('personal_access_tokens').selectAll().where('id', '=', Number(id)).executeTakeFirstOrThrow();
      assert.equal(row.token, sha256Hex(secret));
    });
  });
}

for (const kind of ['postgres', 'mysql'] as const) {
  describe(`503 unavailable on ${kind} when the database is unreachable`, () => {
    test('writes answer 503, cached tokens keep validating, nothing answers 500, and it recovers', async () => {
      const database = await freshDatabase(kind);
      const proxy = await TcpProxy.start({ port: Number(new URL(database.url).port) });
      const viaProxy = new URL(database.url);
      viaProxy.port = String(proxy.port);
      let app: TestApp | undefined;
      try {
        app = await startInstance({ DATABASE_URL: viaProxy.toString() });
        const { token, email, password } = await register(app);
        const stranger = await register(app);
        assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200, 'warm');

        await proxy.cut();
        assertError(await app.request('POST', '/api/auth/register', { body: { email: 'new@example.com', password: 'password-1' } }), 503, 'unavailable');
        assertError(await app.request('POST', '/api/auth/login', { body: { email, password } }), 503, 'unavailable');
        assertError(await app.request('POST', '/api/auth/tokens', { token, body: { name: 'x' } }), 503, 'unavailable');
        assertError(await app.request('GET', '/api/auth/tokens', { token }), 503, 'unavailable');
        assertError(await app.request('POST', '/api/auth/logout', { token: stranger.token }), 503, 'unavailable');
        // A cached token keeps validating (the database is the truth, the cache serves it).
        assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
        assert.equal((await app.request('GET', '/api/auth/verify', { token })).status, 200);
        const ready = await app.request('GET', '/readyz');
        assert.equal(ready.status, 503);
        assert.equal(ready.body.database, 'down');
        assert.equal((await app.request('GET', '/healthz')).status, 200);

        await proxy.restore();
        let back = await app.request('POST', '/api/auth/login', { body: { email, password } });
        // A pooled connection may notice the outage only now; one more try must succeed.
        for (let i = 0; back.status === 503 && i < 20; i++) {
          await new Promise((r) => setTimeout(r, 100));
          back = await app.request('POST', '/api/auth/login', { body: { email, password } });
        }
        assert.equal(back.status, 200, JSON.stringify(back.body));
      } finally {
        await app?.close();
        await proxy.close();
        await database.drop();
      }
    });
  });
}
