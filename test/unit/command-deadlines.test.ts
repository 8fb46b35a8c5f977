// REDIS_TIMEOUT on the cache's Redis commands (src/cache/command-deadlines.ts): an answer in time
// passes through, a command with none fails at its deadline and stalls the tier, an answer that
// was due while the event loop was blocked still counts as in time, and the timer shared by all
// commands follows the oldest one still waiting.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandDeadlines } from '../../src/cache/command-deadlines.js';

const TIMEOUT_MS = 50;

function deadlines() {
  const timeouts = { count: 0 };
  return { deadlines: new CommandDeadlines(TIMEOUT_MS, () => timeouts.count++), timeouts };
}

// The deadline timer does not keep a process alive (a Redis connection does, in use).
const keepAlive = setInterval(() => undefined, 1000);
after(() => clearInterval(keepAlive));

/** A command that answers `value` after `ms`, or never (ms undefined). */
function command<T>(value: T, ms?: number): Promise<T> {
  return new Promise((resolve) => {
    if (ms !== undefined) setTimeout(() => resolve(value), ms);
  });
}

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('an answer in time passes through, and so does a failure that is not a timeout', async () => {
  const { deadlines: d, timeouts } = deadlines();
  assert.equal(await d.watch(command('OK', 5)), 'OK');
  await assert.rejects(d.watch(Promise.reject(new Error('WRONGTYPE'))), /WRONGTYPE/);
  await sleep(TIMEOUT_MS + 20);
  assert.equal(timeouts.count, 0);
});

test('a command with no answer fails at its deadline and stalls the tier, once per expiry', async () => {
  const { deadlines: d, timeouts } = deadlines();
  const started = Date.now();
  const silent = [d.watch(command('never')), d.watch(command('never'))];
  for (const watched of silent) await assert.rejects(watched, /Redis did not answer within 50 ms/);
  const waited = Date.now() - started;
  assert.ok(waited >= TIMEOUT_MS && waited < TIMEOUT_MS + 500, `failed after ${waited} ms`);
  assert.equal(timeouts.count, 1);
});

test("ioredis's own command timeout stalls the tier too", async () => {
  const { deadlines: d, timeouts } = deadlines();
  await assert.rejects(d.watch(Promise.reject(new Error('Command timed out'))), /timed out/);
  assert.equal(timeouts.count, 1);
});

test('an answer that came while the event loop was blocked past the deadline is in time', async () => {
  const { deadlines: d, timeouts } = deadlines();
  // The answer is due after the deadline's timer but before the loop gets to run either: the
  // deadline is judged once the loop has caught up, so the answer counts.
  const watched = d.watch(command('late to be read', TIMEOUT_MS + 10));
  blockFor(TIMEOUT_MS + 50);
  assert.equal(await watched, 'late to be read');
  assert.equal(timeouts.count, 0);
});

test('one timer serves every command: after answered ones, it waits for the oldest still waiting', async () => {
  const { deadlines: d, timeouts } = deadlines();
  const answered = d.watch(command('first', 5));
  await sleep(30);
  // Sent 30 ms after the first (whose deadline armed the timer): its own deadline is 30 ms later.
  const silentFrom = Date.now();
  const silent = d.watch(command('never'));
  assert.equal(await answered, 'first');
  await assert.rejects(silent, /did not answer/);
  const waited = Date.now() - silentFrom;
  assert.ok(waited >= TIMEOUT_MS, `the later command failed after ${waited} ms, before its own deadline`);
  assert.equal(timeouts.count, 1);
});
