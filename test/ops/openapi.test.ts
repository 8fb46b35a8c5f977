// GET /openapi.json describes every route of docs/api.md §3 and §4 (and nothing private); GET /docs
// renders it from assets served by latchkey itself, with no URL to another host.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { register, useStack } from '../helpers/app.js';

/** docs/api.md §3 and §4, in OpenAPI path syntax. */
const CONTRACT: [method: string, path: string][] = [
  ['post', '/api/auth/register'],
  ['post', '/api/auth/login'],
  ['post', '/api/auth/logout'],
  ['get', '/api/auth/me'],
  ['put', '/api/auth/password'],
  ['get', '/api/auth/tokens'],
  ['post', '/api/auth/tokens'],
  ['delete', '/api/auth/tokens/{id}'],
  ['get', '/api/auth/verify'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
  ['get', '/openapi.json'],
  ['get', '/docs'],
  ['get', '/api/auth/csrf-cookie'],
  ['post', '/api/auth/session'],
  ['delete', '/api/auth/session'],
  ['get', '/api/auth/sessions'],
  ['delete', '/api/auth/sessions/{id}'],
  ['post', '/api/auth/forgot-password'],
  ['post', '/api/auth/reset-password'],
  ['get', '/api/auth/email/verify/{id}/{hash}'],
  ['post', '/api/auth/email/verification-notification'],
];
const SECTION_3_API = CONTRACT.slice(0, 9);

describe('OpenAPI description and reference page', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' });
  let spec: any;
  before(async () => {
    const reply = await ctx.app.request('GET', '/openapi.json');
    assert.equal(reply.status, 200);
    spec = reply.body;
  });

  test('is OpenAPI 3 and lists exactly the routes of docs/api.md §3 and §4, and of docs/recovery.md', () => {
    assert.match(spec.openapi, /^3\./);
    const listed = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, operations]) =>
      Object.keys(operations)
        .filter((key) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(key))
        .map((method) => `${method} ${path}`),
    );
    assert.deepEqual(listed.sort(), CONTRACT.map(([m, p]) => `${m} ${p}`).sort());
  });

  test('§3 routes carry a summary, the auth tag, their error responses and, where needed, credentials', () => {
    for (const [method, path] of SECTION_3_API) {
      const operation = spec.paths[path][method];
      assert.ok(operation.summary, `${method} ${path} has a summary`);
      assert.deepEqual(operation.tags, ['auth']);
      const errors = Object.keys(operation.responses).filter((s) => Number(s) >= 400);
      assert.ok(errors.length > 0, `${method} ${path} documents its errors`);
      const needsCredential = !['/api/auth/register', '/api/auth/login'].includes(path);
      assert.equal(Boolean(operation.security), needsCredential, `${method} ${path} security`);
    }
    const login = spec.paths['/api/auth/login'].post;
    assert.deepEqual(login.requestBody.content['application/json'].schema.required, ['email', 'password']);
    assert.ok(login.responses['429'], 'login documents the rate limit');
    assert.ok(spec.components.securitySchemes.bearerAuth);
    assert.ok(spec.components.securitySchemes.sessionCookie);
  });

  test('request bodies are validated by the schemas the document shows: 422 names every wrong field', async () => {
    const reply = await ctx.app.request('POST', '/api/auth/register', { body: { email: 42, password: ['x'] } });
    assert.equal(reply.status, 422);
    assert.equal(reply.body.error.code, 'validation_failed');
    assert.ok(reply.body.error.fields.email && reply.body.error.fields.password);
    const { token } = await register(ctx.app);
    const notAnId = await ctx.app.request('DELETE', '/api/auth/tokens/abc', { token });
    assert.equal(notAnId.status, 404, 'the documented path parameter is not validated into a 400');
  });

  test('/docs is an HTML page whose assets are all served by latchkey', async () => {
    const docs = await ctx.app.request('GET', '/docs');
    assert.equal(docs.status, 200);
    assert.match(String(docs.headers['content-type']), /^text\/html/);
    const html = docs.body as string;
    assert.equal(/(https?:)?\/\/[a-z0-9.-]+/i.test(html.replace(/<!--.*?-->/gs, '')), false, 'no URL to another host in the page');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 4);
    for (const asset of assets) {
      assert.ok(asset.startsWith('/docs/'), `${asset} is local`);
      const reply = await ctx.app.request('GET', asset);
      assert.equal(reply.status, 200, `${asset} is served`);
    }
    const initializer = (await ctx.app.request('GET', '/docs/static/swagger-initializer.js')).body as string;
    // (A comment in it cites a Stack Overflow answer; no string in it names another host.)
    assert.equal(/['"`]https?:\/\//.test(initializer), false, 'the page loads its spec from latchkey, with no validator badge');
    assert.match(initializer, /validatorUrl: null/);
  });

  test('/docs and its assets carry the headers of the account page: a CSP of our own origin, no framing', async () => {
    for (const path of ['/docs', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const { headers } = await ctx.app.request('GET', path);
      const csp = String(headers['content-security-policy']);
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|https:/, path);
      assert.equal(headers['x-frame-options'], 'DENY', path);
    }
    const account = await ctx.app.request('GET', '/account');
    assert.equal((await ctx.app.request('GET', '/docs')).headers['content-security-policy'], account.headers['content-security-policy'], 'the same policy');
    assert.equal((await ctx.app.request('GET', '/api/auth/me')).headers['content-security-policy'], undefined, 'pages only, not the API');
  });
});
