// `latchkey cache:clear` (latchkey's cached entries only: other keys in the same Redis and the
// rate-limit counters survive, and a running instance keeps working) and `latchkey serve` the
// way `npm start` runs it (a fresh SQLite file, /healthz, SIGTERM exits 0).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_URL, register, useStack } from '../helpers/app.js';
import { freePort, isOneLineFailure, runCli, spawnCli } from './run-cli.js';

async function keys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const batch of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) found.push(...batch);
  return found;
}

describe('latchkey cache:clear', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'redis' });
  let redis: Redis;
  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(() => redis?.disconnect());

  test("drops latchkey's cached entries only; a running instance keeps working", async () => {
    const app = ctx.app;
    const prefix = ctx.stack.env.CACHE_PREFIX!;
    const { token, email, password } = await register(app);
    assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
    // Rate-limit counters `<prefix>rl:…`: the registration's (per IP) and one failed login's (per
    // (email, IP) and per account).
    assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } })).status, 401);
    const unrelated = `unrelated-${prefix}key`;
    await redis.set(unrelated, 'keep me');
    await redis.set(`${prefix}app-data`, 'keep me too');
    let cached: string[] = [];
    for (let i = 0; i < 50 && cached.length === 0; i++) {
      cached = await keys(redis, `${prefix}t:*`);
      if (cached.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(cached.length > 0, 'the token is cached in Redis');
    const counters = await keys(redis, `${prefix}rl:*`);
    assert.ok(counters.length >= 2, `rate-limit counters: ${counters.length}`);
    const counts = await Promise.all(counters.map((key) => redis.get(key)));

    const result = await runCli(['cache:clear'], { env: ctx.stack.env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Cleared [1-9]\d* cached keys/);

    assert.deepEqual(await keys(redis, `${prefix}t:*`), []);
    assert.equal(await redis.get(unrelated), 'keep me');
    assert.equal(await redis.get(`${prefix}app-data`), 'keep me too');
    assert.deepEqual(await Promise.all(counters.map((key) => redis.get(key))), counts, 'the rate-limit counters survive, unchanged');

    assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200, 'served again from the database');
    for (let i = 0; i < 4; i++) await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong-password' } });
    assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password } })).status, 429, 'the limit still counts from 1');
    await redis.del(unrelated, `${prefix}app-data`);
  });
});

/** Polls the server until it answers, bounded. */
async function waitForHealthz(port: number): Promise<Response> {
  let lastError: unknown;
  for (let i = 0; i < 300; i++) {
    try {
      return await fetch(`http://127.0.0.1:${port}/healthz`);
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`the server never answered: ${String(lastError)}`);
}

describe('latchkey serve', () => {
  test('as npm start runs it: creates and migrates ./data/latchkey.db, answers, and exits 0 on SIGTERM', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    const port = await freePort();
    const child = spawnCli(['serve'], { cwd, env: { PORT: String(port), LOG_LEVEL: 'info' } });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const health = await waitForHealthz(port);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.ok(existsSync(join(cwd, 'data', 'latchkey.db')), 'the default SQLite file');

      const registered = await fetch(`http://127.0.0.1:${port}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'first@example.com', password: 'password-1' }),
      });
      assert.equal(registered.status, 201);
      const { token } = (await registered.json()) as { token: string };
      const me = await fetch(`http://127.0.0.1:${port}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);

      const busy = await runCli(['serve'], { cwd, env: { PORT: String(port), LOG_LEVEL: 'silent' } });
      assert.ok(isOneLineFailure(busy), busy.stderr);
      assert.match(busy.stderr, /already in use/);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('--no-migrate refuses an unmigrated database with one line', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    try {
      const result = await runCli(['serve', '--no-migrate'], { cwd, env: { PORT: String(await freePort()), LOG_LEVEL: 'silent' } });
      assert.ok(isOneLineFailure(result), result.stderr);
      assert.match(result.stderr, /latchkey migrate/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
