// How latchkey serves the account page: content types, a strict Content-Security-Policy, no
// reference to another origin, and no trace of the page in the OpenAPI description.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startInstance, type TestApp } from '../helpers/app.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';

describe('the account page as served', () => {
  let database: TestDatabase;
  let app: TestApp;
  before(async () => {
    database = await freshDatabase('sqlite');
    app = await startInstance({ DATABASE_URL: database.url });
  });
  after(async () => {
    await app?.close();
    await database?.drop();
  });

  const files = [
    ['/account', 'text/html; charset=utf-8'],
    ['/account/app.js', 'text/javascript; charset=utf-8'],
    ['/account/app.css', 'text/css; charset=utf-8'],
  ] as const;

  test('each file has its content type and a strict Content-Security-Policy', async () => {
    for (const [url, type] of files) {
      const reply = await app.request('GET', url);
      assert.equal(reply.status, 200, url);
      assert.equal(reply.headers['content-type'], type);
      const csp = String(reply.headers['content-security-policy']);
      assert.match(csp, /(^|; )default-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, 'no inline script or style, no wildcard');
      assert.equal(reply.headers['x-content-type-options'], 'nosniff');
    }
  });

  test('the page refers to nothing on another origin and has no inline script or style', async () => {
    for (const [url] of files) {
      const body = String((await app.request('GET', url)).body);
      assert.doesNotMatch(body, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, `${url} names another origin`);
      assert.doesNotMatch(body, /@import|url\((?!data:)/, `${url} loads a stylesheet or image`);
    }
    const html = String((await app.request('GET', '/account')).body);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    assert.doesNotMatch(html, /\sstyle=|<style|\son[a-z]+=/i, 'no inline style or handler');
  });

  test('/account/ redirects to /account, whose relative links it would break', async () => {
    const reply = await app.request('GET', '/account/');
    assert.equal(reply.status, 301);
    assert.equal(reply.headers.location, '../account');
  });

  test('the OpenAPI description leaves the page out and tags every session route', async () => {
    const spec = (await app.request('GET', '/openapi.json')).body;
    assert.deepEqual(Object.keys(spec.paths).filter((path) => path.startsWith('/account')), []);
    const sessionRoutes = [
      ['/api/auth/csrf-cookie', 'get'],
      ['/api/auth/session', 'post'],
      ['/api/auth/session', 'delete'],
      ['/api/auth/sessions', 'get'],
      ['/api/auth/sessions/{id}', 'delete'],
    ];
    for (const [path, method] of sessionRoutes) {
      const operation = spec.paths[path!]?.[method!];
      assert.ok(operation, `${method} ${path} is described`);
      assert.deepEqual(operation.tags, ['sessions']);
      assert.ok(operation.summary);
      assert.ok(operation.responses['200'] ?? operation.responses['204']);
    }
    assert.deepEqual(Object.keys(spec.paths['/api/auth/session'].post.requestBody.content['application/json'].schema.properties), ['email', 'password']);
  });
});
