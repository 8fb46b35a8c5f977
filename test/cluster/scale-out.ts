// Shared steps of the scale-out tests (Redis Cluster and Sentinel): several latchkey instances
// on one PostgreSQL database, revocation races between them, and failovers under load.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeEntry } from '../../src/cache/entry.js';
import { register, startStack, type TestApp, type TestStack } from '../helpers/app.js';
import { waitUntil } from '../helpers/redis-cluster.js';

/** Instance B must reject a token revoked by A once this long has passed (docs/api.md §3). */
export const REVOCATION_WINDOW_MS = 100;

export interface ScaleOutStack {
  stack: TestStack;
  a: TestApp;
  b: TestApp;
}

/** Two instances on a fresh PostgreSQL schema, using the Redis topology named by `redisEnv`. */
export async function startScaleOut(redisEnv: Record<string, string>): Promise<ScaleOutStack> {
  // REDIS_CLUSTER_NODES and REDIS_SENTINELS take precedence over the REDIS_URL startStack adds.
  // LATCHKEY_TEST_LOG_LEVEL=warn shows the instances' redis_down / epoch events when debugging.
  const stack = await startStack({ db: 'postgres', cache: 'redis' }, { LOG_LEVEL: process.env.LATCHKEY_TEST_LOG_LEVEL ?? 'silent', ...redisEnv });
  try {
    return { stack, a: stack.instance, b: await stack.another() };
  } catch (error) {
    await stack.close();
    throw error;
  }
}

export function cacheKey(app: TestApp, token: string): string {
  return `${app.config.cachePrefix}t:${createHash('sha256').update(token.slice(token.indexOf('|') + 1)).digest('hex')}`;
}

export async function lookups(app: TestApp, tier: 'memory' | 'redis' | 'database'): Promise<number> {
  const metric = await app.latchkey.metrics.cacheLookups.get();
  return metric.values.find((v) => v.labels.tier === tier)?.value ?? 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Revocation = (owner: TestApp, token: string, user: { email: string; password: string }) => Promise<void>;

/** The three revocations the race runs, each done by the owner's instance. */
export const REVOCATIONS: Record<string, Revocation> = {
  logout: async (owner, token) => {
    assert.equal((await owner.request('POST', '/api/auth/logout', { token })).status, 204);
  },
  'token delete': async (owner, token) => {
    const id = Number(token.split('|')[0]);
    // A second full-ability token deletes the first, as a user's settings page would.
    const other = (await owner.request('POST', '/api/auth/tokens', { token, body: { name: 'settings' } })).body.token as string;
    assert.equal((await owner.request('DELETE', `/api/auth/tokens/${id}`, { token: other })).status, 204);
  },
  'password change': async (owner, token, user) => {
    const reply = await owner.request('PUT', '/api/auth/password', { token, body: { current_password: user.password, password: `${user.password}!` } });
    assert.equal(reply.status, 200);
  },
};

/**
 * Validates `token` on `validator` in a tight loop while `revoke` runs on the other instance;
 * returns the validations that started later than REVOCATION_WINDOW_MS after the revocation
 * answered and were still accepted (must be none), and how many 5xx were seen.
 */
export async function raceOnce(validator: TestApp, token: string, revoke: () => Promise<void>): Promise<{ lateAccepts: number; serverErrors: number }> {
  let revokedAt: number | undefined;
  let lateAccepts = 0;
  let serverErrors = 0;
  let stop = false;
  const loop = (async () => {
    for (let i = 0; i < 400 && !stop; i++) {
      const startedAt = Date.now();
      const reply = await validator.request('GET', '/api/auth/verify', { token });
      if (reply.status >= 500) serverErrors++;
      if (reply.status === 200 && revokedAt !== undefined && startedAt >= revokedAt + REVOCATION_WINDOW_MS) lateAccepts++;
      if (revokedAt !== undefined && startedAt >= revokedAt + 2 * REVOCATION_WINDOW_MS) return;
      await sleep(1);
    }
  })();
  await sleep(5);
  await revoke();
  revokedAt = Date.now();
  await loop;
  stop = true;
  return { lateAccepts, serverErrors };
}

/**
 * Runs `rounds` races per revocation kind: a fresh user on A, its token warm in both B's
 * in-process tier and Redis, then A revokes while B validates.
 */
export async function runRaces({ a, b }: ScaleOutStack, rounds: number): Promise<void> {
  for (const [name, revoke] of Object.entries(REVOCATIONS)) {
    for (let round = 0; round < rounds; round++) {
      const user = await register(a);
      assert.equal((await b.request('GET', '/api/auth/verify', { token: user.token })).status, 200);
      const { lateAccepts, serverErrors } = await raceOnce(b, user.token, () => revoke(a, user.token, user));
      assert.equal(serverErrors, 0, `${name}: 5xx during the race`);
      assert.equal(lateAccepts, 0, `${name}: B accepted the revoked token more than ${REVOCATION_WINDOW_MS} ms after A revoked it`);
      assert.equal((await b.request('GET', '/api/auth/verify', { token: user.token })).status, 401);
      assert.equal((await a.request('GET', '/api/auth/verify', { token: user.token })).status, 401);
    }
  }
}

export interface LoadReport {
  requests: number;
  serverErrors: number;
  /** Revoked tokens accepted later than REVOCATION_WINDOW_MS after their revocation answered. */
  lateAccepts: number;
  revocations: number;
}

/**
 * Validations on both instances and revocations (logouts on A) in a loop until `during`
 * settles; every revoked token keeps being presented to B afterwards.
 */
export async function loadWhile({ a, b }: ScaleOutStack, during: Promise<void>): Promise<LoadReport> {
  const report: LoadReport = { requests: 0, serverErrors: 0, lateAccepts: 0, revocations: 0 };
  const live: string[] = [];
  for (let i = 0; i < 8; i++) live.push((await register(a)).token);
  const revoked: { token: string; at: number }[] = [];
  let done = false;
  during.finally(() => {
    done = true;
  });

  const count = (status: number) => {
    report.requests++;
    if (status >= 500) report.serverErrors++;
  };
  const validators = [a, b].map(async (app) => {
    for (let i = 0; !done && i < 20_000; i++) {
      count((await app.request('GET', '/api/auth/verify', { token: live[i % live.length] })).status);
      const old = revoked[i % Math.max(1, revoked.length)];
      if (old) {
        const startedAt = Date.now();
        const status = (await app.request('GET', '/api/auth/verify', { token: old.token })).status;
        count(status);
        if (status === 200 && startedAt >= old.at + REVOCATION_WINDOW_MS) report.lateAccepts++;
      }
      await sleep(2);
    }
  });
  const revoker = (async () => {
    for (let i = 0; !done && i < 500; i++) {
      const user = await register(a);
      // Warm in B's in-process tier and in Redis, so only an invalidation can make B reject it.
      count((await b.request('GET', '/api/auth/verify', { token: user.token })).status);
      const reply = await a.request('POST', '/api/auth/logout', { token: user.token });
      count(reply.status);
      if (reply.status === 204) {
        revoked.push({ token: user.token, at: Date.now() });
        report.revocations++;
      }
      await sleep(20);
    }
  })();
  await during;
  await Promise.all([...validators, revoker]);
  return report;
}

/**
 * Both instances report the cache up again and B reads from Redis a token A cached there.
 * Polled: on a loaded machine a heartbeat may stall the tier for a moment (REDIS_TIMEOUT).
 */
export async function assertBackOnRedis({ a, b }: ScaleOutStack, readRaw: (key: string) => Promise<string | null>): Promise<void> {
  await waitUntil('both instances to report "cache": "up"', async () => {
    for (const app of [a, b]) if ((await app.request('GET', '/readyz')).body.cache !== 'up') return false;
    return true;
  });
  // A fresh token per attempt: A's first validation fills Redis (after answering), later ones
  // would be served from A's in-process tier and fill nothing.
  await waitUntil('B to read from Redis a token A cached there', async () => {
    const { token } = await register(a);
    if ((await a.request('GET', '/api/auth/verify', { token })).status !== 200) return false;
    const key = cacheKey(a, token);
    await waitUntil('A to fill Redis', async () => (await readRaw(key)) !== null, 1000).catch(() => undefined);
    const raw = await readRaw(key);
    if (raw === null || decodeEntry(raw)?.epoch !== b.latchkey.cache.currentEpoch) return false;
    const before = await lookups(b, 'redis');
    return (await b.request('GET', '/api/auth/verify', { token })).status === 200 && (await lookups(b, 'redis')) === before + 1;
  });
}
