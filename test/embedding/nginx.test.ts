// nginx auth_request in front of an app, with docs/nginx-auth-request.conf as the docs give it
// (only its addresses replaced): Debian's nginx started by the test on free ports, a latchkey
// server behind it and a tiny upstream that reports what nginx passed on.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import { raceRevocation, summarise, waitUntil, WINDOW_MS, type RaceApp } from '../revocation/support.js';
import { signIn } from '../sessions/helpers.js';
import { httpRequest } from './apps.js';

const NGINX = process.env.LATCHKEY_TEST_NGINX ?? '/usr/sbin/nginx';
const NGINX_DOC = new URL('../../docs/nginx-auth-request.conf', import.meta.url);

/** The documented configuration with this test's addresses, inside a main config of its own. */
function nginxConfig(dir: string, ports: { nginx: number; latchkey: number; app: number }): string {
  const documented = readFileSync(NGINX_DOC, 'utf8');
  const replaced = documented.replace('server 127.0.0.1:3000;', `server 127.0.0.1:${ports.latchkey};`).replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`).replace('listen 8000;', `listen 127.0.0.1:${ports.nginx};`);
  assert.notEqual(replaced, documented);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`).join('\n  ');
  return `daemon off;\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')} warn;\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n${replaced}\n}\n`;
}

describe('nginx auth_request with the documented configuration', () => {
  const ctx = useStack({ db: 'postgres', cache: 'redis' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });
  let dir: string;
  let nginx: ChildProcess;
  let upstream: Server;
  let other: TestApp;
  const seen: { method: string; headers: IncomingHttpHeaders }[] = [];
  let through: RaceApp & { request: TestApp['request'] };

  before(async () => {
    assert.ok(existsSync(NGINX), `nginx is needed at ${NGINX} (Debian: apt-get install nginx-light)`);
    other = await ctx.stack.another();
    upstream = createServer((req, res) => {
      seen.push({ method: req.method!, headers: req.headers });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ upstream: true }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const latchkeyPort = await freePort();
    await ctx.app.app.listen({ port: latchkeyPort, host: '127.0.0.1' });
    const ports = { nginx: await freePort(), latchkey: latchkeyPort, app: (upstream.address() as { port: number }).port };
    dir = mkdtempSync(join(tmpdir(), 'latchkey-nginx-'));
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, ports));
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'inherit' });
    const base = `http://127.0.0.1:${ports.nginx}`;
    through = { paths: ['/orders', '/orders'], request: (method, url, options) => httpRequest(base, method, url, options) };
    await waitUntil('nginx answers', () => through.request('GET', '/api/auth/csrf-cookie').then((r) => r.status === 204, () => false));
  });
  after(async () => {
    nginx?.kill('SIGQUIT');
    if (nginx && nginx.exitCode === null) await once(nginx, 'exit');
    upstream?.closeAllConnections();
    upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a bearer token reaches the app with X-User-Id and X-Token-Id; none or a bad one is refused; made-up headers are overwritten', async () => {
    const { token, user } = await register(ctx.app);
    seen.length = 0;
    const reply = await through.request('GET', '/orders', { token, headers: { 'x-user-id': '999999', 'x-token-id': '999999' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { upstream: true });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-user-id'], String(user.id));
    assert.equal(seen[0]!.headers['x-token-id'], token.slice(0, token.indexOf('|')));
    for (const options of [{}, { token: 'garbage' }, { headers: { 'x-user-id': String(user.id) } }]) {
      assert.equal((await through.request('GET', '/orders', options)).status, 401);
    }
    assert.equal(seen.length, 1, 'the app saw no refused request');
    assert.equal((await through.request('GET', '/api/auth/me', { token })).status, 200, "latchkey's own API through nginx");
  });

  test('a revoked token is refused through nginx within the window: 30 rounds, revoked on another instance', async () => {
    const lastAccepts: number[] = [];
    for (let round = 0; round < 30; round++) {
      const { token } = await register(ctx.app);
      assert.equal((await through.request('GET', '/orders', { token })).status, 200);
      const outcome = await raceRevocation({
        revoker: other,
        observer: through,
        tokens: [token],
        windowMs: WINDOW_MS,
        revoke: async () => assert.equal((await other.request('POST', '/api/auth/logout', { token })).status, 204),
      });
      assert.deepEqual(outcome.violations, []);
      if (outcome.lastAcceptMs !== null) lastAccepts.push(outcome.lastAcceptMs);
    }
    console.log(`# nginx: last acceptance relative to the revocation's return: ${summarise(lastAccepts)}`);
  });

  test('a cookie session: safe methods pass without X-Token-Id; an unsafe one needs the CSRF header, else 403', async () => {
    const registered = await register(ctx.app);
    const device = await signIn(ctx.app, registered);
    seen.length = 0;
    assert.equal((await through.request('GET', '/orders', device.read())).status, 200);
    assert.equal(seen[0]!.headers['x-user-id'], String(registered.user.id));
    assert.equal(seen[0]!.headers['x-token-id'], undefined);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      assert.equal((await through.request(method, '/orders', device.forged({ item: 1 }))).status, 403, `${method} without X-XSRF-TOKEN`);
      assert.equal((await through.request(method, '/orders', device.write({ item: 1 }))).status, 200, `${method} with X-XSRF-TOKEN`);
    }
    assert.deepEqual(seen.map((s) => s.method), ['GET', 'POST', 'PUT', 'DELETE']);
  });
});
