// Apps that embed latchkey, for the tests: the same small API on Fastify (the plugin) and on
// Express 5 and 4 (the middleware), on a database and Redis shared with latchkey servers.
import { once } from 'node:events';
import type { Server } from 'node:http';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import latchkeyPlugin from '../../src/embed/fastify.js';
import { latchkey } from '../../src/embed/express.js';
import type { Latchkey } from '../../src/latchkey.js';
import { testEnv, type Reply, type RequestOptions } from '../helpers/app.js';

export interface EmbeddedApp {
  name: string;
  core: Latchkey;
  /** Protected routes the race probes alternate between. */
  paths: readonly [string, string];
  request(method: string, url: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

const PATHS = ['/orders', '/me'] as const;

/** GET /public (open), GET /me (any credential), GET /orders and POST /orders (abilities). */
export async function startFastifyApp(env: Record<string, string>): Promise<EmbeddedApp> {
  const app = Fastify({ logger: false });
  await app.register(latchkeyPlugin, { env: testEnv(env) });
  app.get('/public', async () => ({ public: true }));
  app.get('/me', { preHandler: app.latchkey.require() }, async (request) => request.auth);
  app.get('/orders', { preHandler: app.latchkey.require('orders:read') }, async (request) => request.auth);
  app.post('/orders', { preHandler: app.latchkey.require('orders:write') }, async (request, reply) => reply.code(201).send(request.auth));
  await app.ready();
  return {
    name: 'fastify',
    core: app.latchkey.core,
    paths: PATHS,
    async request(method, url, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      const response = await app.inject({ method: method as 'GET', url, headers, cookies: options.cookies, payload: options.body === undefined ? undefined : JSON.stringify(options.body) });
      const json = String(response.headers['content-type'] ?? '').includes('json') && response.body !== '';
      return { status: response.statusCode, body: json ? JSON.parse(response.body) : response.body, headers: response.headers, cookies: {} };
    },
    close: () => app.close(),
  };
}

export async function startExpressApp(env: Record<string, string>, version: 4 | 5 = 5): Promise<EmbeddedApp> {
  const lk = await latchkey({ env: testEnv(env) });
  const app = version === 5 ? express5() : express4();
  app.get('/public', (_req, res) => void res.json({ public: true }));
  app.get('/me', lk.require(), (req, res) => void res.json(req.auth));
  app.get('/orders', lk.require('orders:read'), (req, res) => void res.json(req.auth));
  app.post('/orders', lk.require('orders:write'), (req, res) => void res.status(201).json(req.auth));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    name: `express ${version}`,
    core: lk.core,
    paths: PATHS,
    request: (method, url, options = {}) => httpRequest(base, method, url, options),
    async close() {
      server.closeAllConnections();
      server.close();
      await lk.close();
    },
  };
}

/** A request over loopback HTTP, in the shape of the in-process test apps' replies. */
export async function httpRequest(base: string, method: string, url: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.cookies) headers.cookie = Object.entries(options.cookies).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(base + url, { method, headers, body });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').includes('json') && text !== '';
  return { status: response.status, body: json ? JSON.parse(text) : text, headers: Object.fromEntries(response.headers), cookies: {} };
}
