// The built-in prune (src/scheduler.ts): with several instances on one database, each tick
// prunes once — the instance that takes the tick's lease in latchkey_locks — in batches, and
// logs how many rows it deleted and how long it took.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { PRUNE_BATCH_SIZE } from '../../src/core/credentials.js';
import { PruneScheduler } from '../../src/scheduler.js';
import { USER_MODEL } from '../../src/store/schema.js';
import { toSqlTime } from '../../src/store/time.js';
import { register, useStack, type Backend, type TestApp } from '../helpers/app.js';

/** Writes `count` tokens that expired two days ago (past PRUNE_HOURS=24) for a user. */
async function insertExpiredTokens(app: TestApp, userId: number, count: number): Promise<void> {
  const longAgo = toSqlTime(Date.now() - 48 * 3_600_000);
  const rows = Array.from({ length: count }, (_, i) => ({
    tokenable_type: USER_MODEL,
    tokenable_id: userId,
    name: 'old',
    token: `${Date.now().toString(16)}${i.toString(16).padStart(8, '0')}`.padEnd(64, '0'),
    abilities: '["*"]',
    expires_at: longAgo,
    created_at: longAgo,
    updated_at: longAgo,
  }));
  const { db } = app.latchkey.store;
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('personal_access_tokens').values(rows.slice(i, i + 500)).execute();
}

async function tokenCount(app: TestApp, userId: number): Promise<number> {
  const row = await app.latchkey.store.db
    .selectFrom('personal_access_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tokenable_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A scheduler whose log lines are captured. */
function schedulerOf(app: TestApp) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const scheduler = new PruneScheduler({ ...app.latchkey, logger: createLogger('info', sink) });
  return { scheduler, lines };
}

async function pruneRuns(app: TestApp, outcome: string): Promise<number> {
  const metric = await app.latchkey.metrics.pruneRuns.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

// PostgreSQL is the case that matters most (a unique violation aborts its transactions); the
// lease is plain SQL, so the other two run the same test.
const backends: Backend[] = [
  { db: 'postgres', cache: 'redis' },
  { db: 'mysql', cache: 'memory' },
  { db: 'sqlite', cache: 'memory' },
];

for (const backend of backends) {
  describe(`scheduled prune on ${backend.db}`, () => {
    const ctx = useStack(backend);
    let second: TestApp;
    before(async () => {
      second = await ctx.stack.another();
    });

    test('two instances ticking at the same moment: exactly one prunes, in batches, and logs it', async () => {
      const { token, user } = await register(ctx.app);
      const expired = PRUNE_BATCH_SIZE * 2 + 17; // three batches
      await insertExpiredTokens(ctx.app, user.id, expired);
      assert.equal(await tokenCount(ctx.app, user.id), expired + 1);

      const a = schedulerOf(ctx.app);
      const b = schedulerOf(second);
      const tick = new Date('2030-01-01T02:00:00.250Z');
      const [ranA, ranB] = await Promise.all([a.scheduler.tick(tick), b.scheduler.tick(new Date(tick.getTime() + 30_000))]);

      assert.equal(Number(ranA) + Number(ranB), 1, 'exactly one instance pruned');
      assert.equal(await tokenCount(ctx.app, user.id), 1, 'every expired token is gone; the live one stays');
      assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200);

      const winner = ranA ? a : b;
      const done = winner.lines.find((l) => l.event === 'prune_done');
      assert.ok(done, 'the pruning instance logs the run');
      assert.equal(done.tokens, expired);
      assert.equal(typeof done.ms, 'number');
      assert.equal((ranA ? b : a).lines.find((l) => l.event === 'prune_done'), undefined);
      assert.equal((await pruneRuns(ctx.app, 'done')) + (await pruneRuns(second, 'done')), 1);
      assert.equal((await pruneRuns(ctx.app, 'skipped')) + (await pruneRuns(second, 'skipped')), 1);

      // The next tick is another lease: it prunes again (once).
      await insertExpiredTokens(ctx.app, user.id, 5);
      const next = new Date(tick.getTime() + 86_400_000);
      const again = await Promise.all([a.scheduler.tick(next), b.scheduler.tick(next)]);
      assert.equal(again.filter(Boolean).length, 1);
      assert.equal(await tokenCount(ctx.app, user.id), 1);
    });
  });
}
