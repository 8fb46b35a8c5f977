// Starts latchkey in-process for tests (Fastify inject, no sockets) on a chosen database and
// cache. Several instances may share one database and one Redis prefix to play a cluster.
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { parseConfig, type Config } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import { openLatchkey, type Latchkey, type OpenOptions } from '../../src/latchkey.js';
import { createLogger } from '../../src/observability/logger.js';
import { REDIS_URL } from '../setup/requirements.mjs';
import { freshDatabase, type DbKind, type TestDatabase } from './databases.js';

export type CacheKind = 'memory' | 'redis';
export { REDIS_URL };

export interface Backend {
  db: DbKind;
  cache: CacheKind;
}

export const BACKENDS: Backend[] = (['sqlite', 'postgres', 'mysql'] as DbKind[]).flatMap((db) =>
  (['memory', 'redis'] as CacheKind[]).map((cache) => ({ db, cache })),
);

export interface Reply {
  status: number;
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
  cookies: Record<string, string>;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is, without JSON encoding. */
  rawBody?: string;
  headers?: Record<string, string>;
  cookies?: Record<string, string>;
}

export interface TestApp {
  latchkey: Latchkey;
  /** The cache's test seam (CredentialCacheDeps.hooks), injected at start; tests set its members. */
  cacheHooks: NonNullable<OpenOptions['cacheHooks']>;
  app: FastifyInstance;
  config: Config;
  request(method: string, url: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  // Suites register many users from one address; test/integration/abuse-limits.test.ts tests the limit.
  return { BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent', PRUNE_SCHEDULE: 'off', REGISTER_RATE_LIMIT: '1000', ...overrides };
}

export function uniquePrefix(): string {
  return `lktest-${randomBytes(5).toString('hex')}:`;
}

export interface InstanceOptions {
  /** Default: a logger at LOG_LEVEL (silent in tests). Fault tests pass one writing to a capture stream. */
  logger?: Logger;
  /** Default true: fail unless the configured Redis is trusted within 5 s. Fault tests start without it. */
  requireRedis?: boolean;
}

/** Starts one instance on an existing database URL. */
export async function startInstance(env: Record<string, string>, options: InstanceOptions = {}): Promise<TestApp> {
  const config = parseConfig(testEnv(env));
  const cacheHooks: TestApp['cacheHooks'] = {};
  const latchkey = await openLatchkey(config, { logger: options.logger ?? createLogger(config.logLevel), migrate: true, cacheHooks });
  if (config.redis && options.requireRedis !== false && !(await latchkey.cache.waitForRedis(5000))) {
    await latchkey.close();
    throw new Error(`Redis at ${JSON.stringify(config.redis)} is not reachable: tests need it running`);
  }
  const app = await buildServer(latchkey);
  await app.ready();
  return {
    latchkey,
    cacheHooks,
    app,
    config,
    request: (method, url, options = {}) => inject(app, method, url, options),
    async close() {
      await app.close();
      await latchkey.close();
    },
  };
}

export interface TestStack {
  database: TestDatabase;
  env: Record<string, string>;
  instance: TestApp;
  /** Another instance on the same database and Redis prefix (its own in-process tier). */
  another(extraEnv?: Record<string, string>): Promise<TestApp>;
  close(): Promise<void>;
}

/** A fresh database (and Redis prefix) with one instance started on it. */
export async function startStack(backend: Backend, env: Record<string, string> = {}): Promise<TestStack> {
  const database = await freshDatabase(backend.db);
  const baseEnv: Record<string, string> = { DATABASE_URL: database.url, CACHE_PREFIX: uniquePrefix(), ...env };
  if (backend.cache === 'redis') baseEnv.REDIS_URL ??= REDIS_URL;
  const instances: TestApp[] = [];
  const start = async (extra: Record<string, string> = {}) => {
    const instance = await startInstance({ ...baseEnv, ...extra });
    instances.push(instance);
    return instance;
  };
  try {
    const instance = await start();
    return {
      database,
      env: baseEnv,
      instance,
      another: start,
      async close() {
        for (const i of instances) await i.close();
        await database.drop();
      },
    };
  } catch (error) {
    for (const i of instances) await i.close().catch(() => undefined);
    await database.drop();
    throw error;
  }
}

/** The stack of a useStack() call: readable from its `before` hook on, not while describe() registers. */
export interface StackHandle {
  readonly stack: TestStack;
  /** The stack's first instance (`stack.instance`). */
  readonly app: TestApp;
}

/**
 * Gives the enclosing describe() a stack of its own: started (see startStack) in a `before` hook
 * and closed in an `after` hook, so that suites do not each repeat that pair of hooks.
 * Hooks run in the order they are registered: a `before` registered after this call finds the
 * stack started, and an `after` that needs the stack still open must be registered before it.
 */
export function useStack(backend: Backend, env: Record<string, string> = {}): StackHandle {
  let stack: TestStack | undefined;
  before(async () => {
    stack = await startStack(backend, env);
  });
  after(async () => stack?.close());
  const started = (): TestStack => {
    if (!stack) throw new Error('useStack(): the stack is not started: read it in a test or a later before() hook (or its before() hook failed)');
    return stack;
  };
  return {
    get stack() {
      return started();
    },
    get app() {
      return started().instance;
    },
  };
}

async function inject(app: FastifyInstance, method: string, url: string, options: RequestOptions): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let payload: string | undefined;
  if (options.rawBody !== undefined) payload = options.rawBody;
  else if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await app.inject({ method: method as any, url, headers, payload, cookies: options.cookies });
  let body: any = response.body;
  if ((response.headers['content-type'] ?? '').toString().includes('json') && response.body !== '') body = JSON.parse(response.body);
  const cookies: Record<string, string> = {};
  for (const c of response.cookies as { name: string; value: string }[]) cookies[c.name] = c.value;
  return { status: response.statusCode, body, headers: response.headers, cookies };
}

/** Registers a user and returns its token and the user. */
export async function register(app: TestApp, email = `u${randomBytes(4).toString('hex')}@example.com`, password = 'correct horse') {
  const reply = await app.request('POST', '/api/auth/register', { body: { email, password, name: 'Test' } });
  if (reply.status !== 201) throw new Error(`register failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { token: reply.body.token as string, user: reply.body.user as { id: number; email: string }, email, password };
}
