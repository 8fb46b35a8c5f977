// The last-use bookkeeping (src/core/activity.ts): a use is recorded once per second per
// credential, the last use seen is whole seconds and never moves backwards, a flush writes each
// pending id once, and a failed flush keeps them pending.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { ActivityRecorder } from '../../src/core/activity.js';

const SECOND = 1000;

function recorder() {
  const writes: { table: string; ids: number[]; at: number }[] = [];
  const database = { down: false };
  const store = {
    async touch(table: 'tokens' | 'sessions', ids: number[], at: number) {
      if (database.down) throw new Error('database down');
      writes.push({ table, ids, at });
    },
  };
  return { activity: new ActivityRecorder(store, 60 * SECOND, 3600 * SECOND, pino({ level: 'silent' })), writes, database };
}

test('the last use seen is the latest whole second, and an earlier use does not move it back', () => {
  const { activity } = recorder();
  const t = Math.floor(Date.now() / SECOND) * SECOND;
  assert.equal(activity.lastTokenUse(1), undefined);
  activity.token(1, t + 250);
  assert.equal(activity.lastTokenUse(1), t);
  activity.token(1, t + 2 * SECOND + 10);
  assert.equal(activity.lastTokenUse(1), t + 2 * SECOND);
  activity.token(1, t + SECOND + 900); // a request that started before the last one recorded
  assert.equal(activity.lastTokenUse(1), t + 2 * SECOND);
  activity.session(7, t + 5);
  assert.equal(activity.lastSessionUse(7), t);
  assert.equal(activity.lastTokenUse(7), undefined);
});

test('a flush writes each used id once, then nothing until the next use', async () => {
  const { activity, writes } = recorder();
  const t = Date.now();
  for (let i = 0; i < 5; i++) activity.token(1, t + i);
  activity.token(2, t);
  activity.session(3, t);
  await activity.flush();
  assert.deepEqual(
    writes.map(({ table, ids }) => ({ table, ids: [...ids].sort() })),
    [
      { table: 'tokens', ids: [1, 2] },
      { table: 'sessions', ids: [3] },
    ],
  );
  await activity.flush();
  assert.equal(writes.length, 2);
});

test('a failed flush keeps the ids pending for the next one', async () => {
  const { activity, writes, database } = recorder();
  activity.token(4, Date.now());
  database.down = true;
  await assert.rejects(activity.flush(), /database down/);
  database.down = false;
  await activity.flush();
  assert.deepEqual(writes.map(({ table, ids }) => ({ table, ids })), [{ table: 'tokens', ids: [4] }]);
});
