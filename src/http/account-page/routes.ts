// GET /account: the account page (sign up, sign in, devices, tokens, password change), three
// static files read once at start and served from memory. Its script is the reference client
// for browser apps on cookie sessions (assets/app.js). Not part of the API: hidden from OpenAPI.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { PAGE_SECURITY_HEADERS } from '../page-security.js';

/**
 * tsc compiles TypeScript only, so the assets stay in src/: this module sits three levels below
 * the package root both as src/http/account-page/routes.ts and as dist/http/account-page/routes.js.
 */
const ASSETS = new URL('../../../src/http/account-page/assets/', import.meta.url);

const PAGES = [
  { url: '/account', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/account/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { url: '/account/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
];

export async function accountPageRoutes(app: FastifyInstance): Promise<void> {
  for (const { url, file, type } of PAGES) {
    const body = readFileSync(new URL(file, ASSETS));
    app.get(url, { schema: { hide: true } }, async (_request, reply) => reply.headers(PAGE_SECURITY_HEADERS).type(type).send(body));
  }
  // The page's links are relative to /account; from /account/ they would miss.
  app.get('/account/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('../account', 301));
}
