// GET /account: the account page (sign up, sign in, devices, tokens, password change), three
// static files read once at start and served from memory. Its script is the reference client
// for browser apps on cookie sessions (assets/app.js). Not part of the API: hidden from OpenAPI.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/**
 * tsc compiles TypeScript only, so the assets stay in src/: this module sits three levels below
 * the package root both as src/http/account-page/routes.ts and as dist/http/account-page/routes.js.
 */
const ASSETS = new URL('../../../src/http/account-page/assets/', import.meta.url);

/** Only our own origin, no inline script or style, no framing, no plugins. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const PAGES = [
  { url: '/account', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/account/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { url: '/account/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
];

export async function accountPageRoutes(app: FastifyInstance): Promise<void> {
  for (const { url, file, type } of PAGES) {
    const body = readFileSync(new URL(file, ASSETS));
    app.get(url, { schema: { hide: true } }, async (_request, reply) => reply.headers(SECURITY_HEADERS).type(type).send(body));
  }
  // The page's links are relative to /account; from /account/ they would miss.
  app.get('/account/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('../account', 301));
}
