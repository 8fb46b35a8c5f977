// The shared tier's batched reads (src/cache/batched-reads.ts): the reads asked for in one turn of
// the event loop go as one MGET and each gets its own value; a failed MGET fails each of its reads;
// a later turn's reads go at once, without waiting for an earlier batch to be answered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BatchedReads } from '../../src/cache/batched-reads.js';

function fakeRedis(values: Record<string, string>) {
  const sent: string[][] = [];
  const answers: (() => void)[] = [];
  const reads = new BatchedReads(
    (keys) =>
      new Promise((resolve, reject) => {
        sent.push(keys);
        answers.push(() => (keys.includes('broken') ? reject(new Error('READONLY')) : resolve(keys.map((key) => values[key] ?? null))));
      }),
  );
  const answerAll = () => answers.splice(0).forEach((answer) => answer());
  return { reads, sent, answerAll };
}

test('the reads of one turn go as one MGET, each answered with its own value', async () => {
  const { reads, sent, answerAll } = fakeRedis({ a: '1', c: '3' });
  const pending = Promise.all([reads.get('a'), reads.get('b'), reads.get('c')]);
  await nextTurn();
  assert.deepEqual(sent, [['a', 'b', 'c']]);
  answerAll();
  assert.deepEqual(await pending, ['1', null, '3']);
});

test('a failed MGET fails every read of its batch, and no other', async () => {
  const { reads, answerAll } = fakeRedis({ a: '1' });
  const failing = [reads.get('a'), reads.get('broken')];
  await nextTurn();
  const next = reads.get('a');
  await nextTurn();
  answerAll();
  for (const read of failing) await assert.rejects(read, /READONLY/);
  assert.equal(await next, '1');
});

test("a later turn's reads are sent while an earlier batch is still unanswered", async () => {
  const { reads, sent, answerAll } = fakeRedis({ a: '1', b: '2' });
  const first = reads.get('a');
  await nextTurn();
  const second = reads.get('b');
  await nextTurn();
  assert.deepEqual(sent, [['a'], ['b']]);
  answerAll();
  assert.deepEqual(await Promise.all([first, second]), ['1', '2']);
});
