// The rate limiter's in-memory counters (the path without Redis): scopes apart, a hit taken back
// never below zero, a count read without counting, and Retry-After from the window left.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RateLimiter } from '../../src/cache/rate-limiter.js';

describe('RateLimiter in memory', () => {
  const limiter = new RateLimiter(2, undefined);
  after(() => limiter.close());

  test('each scope counts its keys apart; the limit is passed on the hit after it', async () => {
    assert.equal((await limiter.hit('register', '192.0.2.1', 2)).allowed, true);
    assert.equal((await limiter.hit('register', '192.0.2.1', 2)).allowed, true);
    const third = await limiter.hit('register', '192.0.2.1', 2);
    assert.equal(third.allowed, false);
    assert.ok(third.retryAfterSeconds >= 1 && third.retryAfterSeconds <= 60, `Retry-After ${third.retryAfterSeconds}`);
    assert.equal((await limiter.hit('other-scope', '192.0.2.1', 2)).allowed, true, 'another scope, another count');
    assert.equal(await limiter.count('register', '192.0.2.1'), 3);
  });

  test('a hit taken back frees its place, and never goes below zero', async () => {
    await limiter.hit('s', 'k', 1);
    await limiter.unhit('s', 'k');
    await limiter.unhit('s', 'k');
    assert.equal(await limiter.count('s', 'k'), 0);
    assert.equal((await limiter.hit('s', 'k', 1)).allowed, true, 'one place, not two, after two take-backs');
    assert.equal((await limiter.hit('s', 'k', 1)).allowed, false);
  });

  test('login attempts: uncount and clear act on the (email, ip) count, emails compared normalised', async () => {
    await limiter.attempt('Ann@Example.com ', '192.0.2.9');
    await limiter.attempt('ann@example.com', '192.0.2.9');
    assert.equal((await limiter.attempt('ann@example.com', '192.0.2.9')).allowed, false);
    await limiter.uncount('ann@example.com', '192.0.2.9');
    assert.equal((await limiter.attempt('ann@example.com', '192.0.2.9')).allowed, false, 'still 3 after one of 4 taken back');
    await limiter.clear('ANN@example.com', '192.0.2.9');
    assert.equal((await limiter.attempt('ann@example.com', '192.0.2.9')).allowed, true);
  });

  test('a key with a window of its own keeps it', async () => {
    const { retryAfterSeconds } = await limiter.hit('long', 'k', Number.POSITIVE_INFINITY, 30 * 24 * 3_600_000);
    assert.ok(retryAfterSeconds > 29 * 24 * 3600, `Retry-After ${retryAfterSeconds}`);
    await limiter.reset('long', 'k');
    assert.equal(await limiter.count('long', 'k'), 0);
  });
});
