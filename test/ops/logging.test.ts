// Logs (src/observability/logger.ts, access-log.ts): a full flow at LOG_LEVEL=trace, every line
// captured, must not contain any password, token, cookie value or XSRF token it used. Each
// request gets one access line (reqId, method, path, status, ms) and an X-Request-Id header.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { uniquePrefix, REDIS_URL } from '../helpers/app.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { captureLog, openInstance, type OpsInstance } from './instance.js';

interface Sent {
  token?: string;
  body?: unknown;
  raw?: string;
  cookies?: Record<string, string>;
  headers?: Record<string, string>;
}

describe('logs of a full flow at LOG_LEVEL=trace', () => {
  const log = captureLog();
  let database: TestDatabase;
  let instance: OpsInstance;
  const secrets = new Set<string>();
  const replies: { status: number; requestId: string }[] = [];

  before(async () => {
    database = await freshDatabase('sqlite');
    instance = await openInstance({ DATABASE_URL: database.url, REDIS_URL, CACHE_PREFIX: uniquePrefix(), LOG_LEVEL: 'trace' }, log);
    await instance.latchkey.cache.waitForRedis(5000);
  });
  after(async () => {
    await instance?.close();
    await database?.drop();
  });

  async function send(method: string, url: string, sent: Sent = {}) {
    const headers: Record<string, string> = { ...sent.headers };
    if (sent.token) headers.authorization = `Bearer ${sent.token}`;
    if (sent.body !== undefined || sent.raw !== undefined) headers['content-type'] ??= 'application/json';
    const reply = await instance.app.inject({
      method: method as 'GET',
      url,
      headers,
      cookies: sent.cookies,
      payload: sent.raw ?? (sent.body === undefined ? undefined : JSON.stringify(sent.body)),
    });
    replies.push({ status: reply.statusCode, requestId: String(reply.headers['x-request-id']) });
    const cookies = Object.fromEntries((reply.cookies as { name: string; value: string }[]).map((c) => [c.name, c.value]));
    for (const value of Object.values(cookies)) if (value) secrets.add(value);
    const body = reply.body && String(reply.headers['content-type']).includes('json') ? reply.json() : undefined;
    if (typeof body?.token === 'string') {
      secrets.add(body.token);
      secrets.add(body.token.split('|')[1]);
    }
    return { status: reply.statusCode, body, cookies, headers: reply.headers };
  }

  function secret(value: string): string {
    secrets.add(value);
    return value;
  }

  test('register, login, tokens, password change, cookie session, logout', async () => {
    const email = 'logged.user@example.com';
    const first = secret('first-Password-1');
    const second = secret('second-Password-2');
    const third = secret('third-Password-3');

    assert.equal((await send('POST', '/api/auth/register', { body: { email, password: first, name: 'Logged' } })).status, 201);
    assert.equal((await send('POST', '/api/auth/login', { body: { email, password: secret('a-wrong-password') } })).status, 401);
    const login = await send('POST', '/api/auth/login', { body: { email, password: first, device_name: 'laptop' } });
    assert.equal(login.status, 200);
    let token: string = login.body.token;
    assert.equal((await send('GET', '/api/auth/me', { token })).status, 200);
    assert.equal((await send('GET', '/api/auth/verify?ability=read', { token })).status, 200);
    const extra = await send('POST', '/api/auth/tokens', { token, body: { name: 'ci', abilities: ['read'] } });
    assert.equal(extra.status, 201);
    assert.equal((await send('GET', '/api/auth/tokens', { token })).status, 200);
    assert.equal((await send('DELETE', `/api/auth/tokens/${extra.body.token.split('|')[0]}`, { token })).status, 204);
    const changed = await send('PUT', '/api/auth/password', { token, body: { current_password: first, password: second } });
    assert.equal(changed.status, 200);
    assert.equal((await send('GET', '/api/auth/me', { token })).status, 401, 'the old token is revoked');
    token = changed.body.token;

    // Cookie session (docs/api.md §4), with the XSRF double submit.
    const csrf = await send('GET', '/api/auth/csrf-cookie');
    const xsrf = csrf.cookies['XSRF-TOKEN']!;
    assert.ok(xsrf);
    const session = await send('POST', '/api/auth/session', { body: { email, password: second }, cookies: { 'XSRF-TOKEN': xsrf }, headers: { 'x-xsrf-token': xsrf } });
    assert.equal(session.status, 200);
    let cookies = { 'XSRF-TOKEN': xsrf, latchkey_session: session.cookies.latchkey_session! };
    assert.ok(cookies.latchkey_session);
    assert.equal((await send('GET', '/api/auth/me', { cookies })).status, 200);
    assert.equal((await send('GET', '/api/auth/sessions', { cookies })).status, 200);
    const viaCookie = await send('PUT', '/api/auth/password', { cookies, headers: { 'x-xsrf-token': xsrf }, body: { current_password: second, password: third } });
    assert.equal(viaCookie.status, 200);
    cookies = { ...cookies, latchkey_session: viaCookie.cookies.latchkey_session! };
    assert.equal((await send('POST', '/api/auth/logout', { cookies, headers: { 'x-xsrf-token': xsrf } })).status, 204);

    // Secrets in places a careless log would pick up: a body that is not JSON, a revoked token,
    // a CSRF header without its cookie.
    assert.equal((await send('POST', '/api/auth/login', { raw: `{"email": "${email}", "password": "${secret('in-a-broken-body-9')}"` })).status, 400);
    assert.equal((await send('GET', '/api/auth/me', { token: login.body.token })).status, 401);
    assert.equal((await send('DELETE', '/api/auth/session', { cookies, headers: { 'x-xsrf-token': secret('forged-xsrf-value-7') } })).status, 401);

    const text = log.text();
    assert.ok(secrets.size >= 15, `collected ${secrets.size} secrets`);
    for (const value of secrets) assert.equal(text.includes(value), false, `a log line contains the secret ${value}`);
    assert.equal(/"(headers|authorization|cookie|set-cookie|x-xsrf-token)"\s*:/i.test(text), false, 'no header is logged');
  });

  test('one access line per request: reqId, method, path, status, ms; never the query string', () => {
    const access = log.lines().filter((l) => l.msg === 'request');
    assert.equal(access.length, replies.length);
    for (const [i, line] of access.entries()) {
      assert.deepEqual(Object.keys(line).sort(), ['level', 'method', 'ms', 'msg', 'path', 'reqId', 'service', 'status', 'time'].sort());
      assert.equal(line.reqId, replies[i]!.requestId, 'the X-Request-Id header names the log line');
      assert.equal(line.status, replies[i]!.status);
      assert.equal(typeof line.ms, 'number');
    }
    assert.ok(access.some((l) => l.path === '/api/auth/verify'));
    assert.equal(log.text().includes('ability=read'), false);
  });

  test('a sane incoming X-Request-Id is kept; anything else is replaced', async () => {
    const kept = await send('GET', '/healthz', { headers: { 'x-request-id': 'edge-7f3a.42:1' } });
    assert.equal(kept.headers['x-request-id'], 'edge-7f3a.42:1');
    for (const odd of ['two words', 'x'.repeat(200), 'quote"inside', '']) {
      const replaced = await send('GET', '/healthz', { headers: { 'x-request-id': odd } });
      // Replaced by a generated id: a per-process random prefix and a counter.
      assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-z]+$/);
    }
    const errorReply = await send('GET', '/no/such/route', { headers: { 'x-request-id': 'trace-404' } });
    assert.equal(errorReply.status, 404);
    assert.equal(errorReply.headers['x-request-id'], 'trace-404');
    assert.ok(log.lines().some((l) => l.reqId === 'trace-404' && l.status === 404 && l.msg === 'request'));
  });
  test('every answer, whichever way it leaves, carries Cache-Control: no-store and its request id', async () => {
    const registered = await send('POST', '/api/auth/register', { body: { name: 'Headers', email: 'headers@example.com', password: 'password-for-headers' } });
    assert.equal(registered.status, 201);
    const token = registered.body.token as string;
    const answers = [
      ['a route', await send('GET', '/api/auth/me', { token }), 200],
      ['a route answered from its kept body', await send('GET', '/api/auth/me', { token }), 200],
      ['an automatic HEAD route', await send('HEAD', '/healthz'), 200],
      ['the docs page', await send('GET', '/docs/'), 200],
      ['a rejected credential', await send('GET', '/api/auth/verify', { token: 'nope' }), 401],
      ['no route', await send('DELETE', '/nothing/here'), 404],
      ['a body that is not JSON', await send('POST', '/api/auth/login', { raw: '{"email":' }), 400],
      ['a schema failure', await send('POST', '/api/auth/login', { body: { email: 7 } }), 422],
      ['a body too large', await send('POST', '/api/auth/login', { raw: JSON.stringify({ email: 'x'.repeat(70_000) }) }), 413],
      ['another media type', await send('POST', '/api/auth/login', { headers: { 'content-type': 'text/plain' }, raw: 'hi' }), 415],
    ] as const;
    for (const [what, reply, status] of answers) {
      assert.equal(reply.status, status, what);
      assert.equal(reply.headers['cache-control'], 'no-store', what);
      assert.match(String(reply.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-z]+$/, what);
    }
  });
});
