// The fast path holds on a saturated event loop, and so does the revocation window. The event
// loop is kept busy in slices of BUSY_SLICE_MS (a CPU burner in this process, where both
// instances run), so every heartbeat answer and every timer is read late. Warm validations must
// still be answered from the in-process tier (no Redis read, no database read), Redis must not
// be taken for down, and a token revoked on A must be refused by B within the window.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { register, startInstance, startStack, type TestApp, type TestStack } from '../helpers/app.js';
import { captureLogs, mintTokens, status, WINDOW_MS, type LogCapture } from './support.js';

/** Longer than a heartbeat's interval (20 ms), well under the coherence lease (75 ms). */
const BUSY_SLICE_MS = 35;
const TOKENS = 40;
const ROUNDS = 5;

/** Keeps the event loop busy in slices until stopped; I/O is read between slices. */
function burnCpu(): () => void {
  const timer = setInterval(() => {
    const until = performance.now() + BUSY_SLICE_MS;
    while (performance.now() < until);
  }, 0);
  return () => clearInterval(timer);
}

async function lookups(app: TestApp): Promise<Record<string, number>> {
  const metric = await app.latchkey.metrics.cacheLookups.get();
  return Object.fromEntries(metric.values.map((v) => [v.labels.tier, v.value]));
}

describe('a saturated event loop: postgres, redis, two instances', () => {
  let stack: TestStack;
  let B: TestApp;
  let logsB: LogCapture;
  let master: { token: string; user: { id: number } };

  before(async () => {
    stack = await startStack({ db: 'postgres', cache: 'redis' });
    logsB = captureLogs();
    B = await startInstance(stack.env, { logger: logsB.logger });
    master = await register(stack.instance);
  });
  after(async () => {
    await B?.close();
    await stack?.close();
  });

  test('warm validations stay in memory, Redis is not taken for down, and revocations are refused within the window', async () => {
    const A = stack.instance;
    const tokens = await mintTokens(A, master.user.id, TOKENS);
    for (const token of tokens) assert.equal(await status(B, token), 200);
    const before = await lookups(B);

    const stop = burnCpu();
    const late: string[] = [];
    try {
      const warm = tokens.slice(TOKENS / 2);
      for (let round = 0; round < ROUNDS; round++) for (const token of warm) assert.equal(await status(B, token), 200);
      const during = await lookups(B);
      // Zero on a machine of its own; this one is shared, and the process may be descheduled for
      // longer than the lease now and then. Before heartbeats were pipelined and lapses waited
      // for the next answer, 88 of these 100 went to Redis.
      const toRedis = (during.redis ?? 0) - (before.redis ?? 0);
      assert.ok(toRedis <= (ROUNDS * warm.length) / 10, `${toRedis} of ${ROUNDS * warm.length} warm validations fell through to Redis`);
      assert.equal((during.database ?? 0) - (before.database ?? 0), 0, 'none reached the database');

      for (const token of tokens.slice(0, TOKENS / 2)) {
        assert.equal((await A.request('POST', '/api/auth/logout', { token })).status, 204);
        const revokedAt = performance.now();
        while (performance.now() - revokedAt < 3 * WINDOW_MS) {
          const started = performance.now();
          if ((await status(B, token)) === 200 && started - revokedAt > WINDOW_MS) late.push(`${token.split('|')[0]} accepted ${Math.round(started - revokedAt)} ms after its revocation`);
        }
      }
    } finally {
      stop();
    }
    assert.deepEqual(late, []);
    // Event-loop lag is not a Redis outage. One report is tolerated: on this shared machine the
    // process (or Redis) can be descheduled for longer than REDIS_TIMEOUT, which no process can
    // tell from a slow Redis.
    const down = logsB.lines.filter((l) => l.event === 'redis_down');
    assert.ok(down.length <= 1, JSON.stringify(down));
  });
});
