// The in-process tier's admission (src/cache/memory-tier.ts): while it has room it keeps every
// credential offered; once full, it keeps one only on its second offer (the doorkeeper), so a
// stream of one-off credentials does not evict a working set, while a new working set moves in.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Doorkeeper } from '../../src/cache/doorkeeper.js';
import { cacheEntry, type CacheEntry } from '../../src/cache/entry.js';
import { MemoryTier } from '../../src/cache/memory-tier.js';

const hashOf = (i: number) => i.toString(16).padStart(64, '0');

function entry(i: number): CacheEntry {
  const user = { id: i, name: null, email: `u${i}@example.com`, createdAt: null, emailVerifiedAt: null };
  return cacheEntry({ user, token: { id: i, userId: i, name: 't', abilities: ['*'], createdAt: null, lastUsedAt: null, expiresAt: null } }, Date.now(), 1);
}

function offer(tier: MemoryTier, i: number): void {
  tier.admit(`t:${hashOf(i)}`, entry(i));
}

const held = (tier: MemoryTier, i: number) => tier.get('t', hashOf(i)) !== undefined;

describe('the in-process tier admits', () => {
  test('everything while it has room', () => {
    const tier = new MemoryTier(3, 1 << 20);
    for (const i of [1, 2, 3]) offer(tier, i);
    assert.deepEqual([1, 2, 3].map((i) => held(tier, i)), [true, true, true]);
  });

  test('once full, a credential on its second offer only, and one-off offers evict nothing', () => {
    const tier = new MemoryTier(3, 1 << 20);
    for (const i of [1, 2, 3]) offer(tier, i);
    for (let i = 100; i < 110; i++) offer(tier, i);
    assert.deepEqual([1, 2, 3].map((i) => held(tier, i)), [true, true, true], 'the working set stays');
    assert.equal(held(tier, 100), false);
    offer(tier, 109);
    assert.equal(held(tier, 109), true, 'a second offer among the last refused moves in');
    assert.equal(tier.size, 3);
  });

  test('the doorkeeper forgets what it held when it fills, and with clear()', () => {
    const tier = new MemoryTier(2, 1 << 20);
    for (const i of [1, 2]) offer(tier, i);
    offer(tier, 10);
    offer(tier, 11); // the doorkeeper holds 10 and 11: full
    offer(tier, 12); // so it starts over with 12
    offer(tier, 10);
    assert.equal(held(tier, 10), false, '10 was forgotten: this is a first offer again');
    offer(tier, 12);
    assert.equal(held(tier, 12), true);
    tier.clear();
    offer(tier, 20);
    assert.equal(held(tier, 20), true, 'an empty tier has room again');
  });

  test('a full byte bound counts as full', () => {
    const tier = new MemoryTier(1000, 2000);
    offer(tier, 1); // about 700 bytes each (cache/entry.ts entrySize)
    offer(tier, 2);
    offer(tier, 3);
    assert.equal(held(tier, 3), false);
    offer(tier, 3);
    assert.equal(held(tier, 3), true);
  });
});

test('the doorkeeper (a Bloom filter) rarely takes a first offer for a second one', () => {
  const randomHash = () => randomBytes(32).toString('hex');
  const doorkeeper = new Doorkeeper(10_000);
  for (let i = 0; i < 5_000; i++) doorkeeper.offeredBefore(randomHash());
  // Filling it up to its capacity (no reset yet), 1–3% at 8 bits per credential and three probes;
  // far more would mean probes that collide.
  let mistaken = 0;
  for (let i = 0; i < 5_000; i++) if (doorkeeper.offeredBefore(randomHash())) mistaken++;
  assert.ok(mistaken < 250, `${mistaken} of 5,000 first offers taken for second ones`);
  const again = randomHash();
  doorkeeper.clear();
  assert.equal(doorkeeper.offeredBefore(again), false);
  assert.equal(doorkeeper.offeredBefore(again), true);
});
