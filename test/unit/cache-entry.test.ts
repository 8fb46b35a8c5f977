// The compact Redis form of cache entries (src/cache/entry.ts): exact round trips for tokens
// and sessions, one object shape whatever the source, and every other value a miss; a re-read
// renews an entry in place only when what it authenticates is unchanged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cacheEntry, decodeEntry, encodeEntry, renew, TOMBSTONE, type CacheEntry } from '../../src/cache/entry.js';

const user = { id: 7, name: 'Zoë "Z" Ng', email: 'zoe@example.com', createdAt: 1_700_000_000_000, emailVerifiedAt: 1_700_000_000_500 };
const tokenEntry: CacheEntry = cacheEntry(
  { user, token: { id: 42, userId: 7, name: 'cli, "laptop"', abilities: ['posts:read', 'posts:write'], createdAt: 1_700_000_001_000, lastUsedAt: null, expiresAt: 1_702_592_001_000 } },
  1_700_000_002_000,
  3,
);
const sessionEntry: CacheEntry = cacheEntry(
  { user: { ...user, name: null, createdAt: null, emailVerifiedAt: null }, session: { id: 9, userId: 7, ip: '2001:db8::1', userAgent: null, createdAt: 1_700_000_003_000, lastActiveAt: 1_700_000_004_000 } },
  1_700_000_005_000,
  4,
);

describe('cache entries in Redis', () => {
  test('a token entry survives the round trip exactly', () => {
    assert.deepEqual(decodeEntry(encodeEntry(tokenEntry)), tokenEntry);
  });

  test('a session entry survives the round trip exactly, nulls included', () => {
    assert.deepEqual(decodeEntry(encodeEntry(sessionEntry)), sessionEntry);
  });

  test('decoded and freshly built entries have the same keys in the same order', () => {
    const decoded = decodeEntry(encodeEntry(tokenEntry))!;
    assert.deepEqual(Object.keys(decoded), Object.keys(tokenEntry));
    assert.deepEqual(Object.keys(decoded.token!), Object.keys(tokenEntry.token!));
    assert.deepEqual(Object.keys(decoded.user), Object.keys(tokenEntry.user));
  });

  test('is about half the size of the same entry as a JSON object', () => {
    assert.ok(encodeEntry(tokenEntry).length < 0.6 * JSON.stringify(tokenEntry).length, encodeEntry(tokenEntry));
  });

  test('entries of the layout before email_verified_at (t1, s1) are misses', () => {
    assert.equal(decodeEntry('["t1",3,1,7,null,"a",null,1,"n",[],null,null,null]'), undefined);
    assert.equal(decodeEntry('["s1",3,1,7,null,"a",null,9,null,null,1,2]'), undefined);
  });

  test('anything else is a miss, not an error', () => {
    for (const raw of [TOMBSTONE, '', 'not json', '{}', JSON.stringify(tokenEntry), '[]', '["t1",1,2,3]', '["x1",3,1,7,null,"a",null,1,"n",[],null,null,null]', '["t1","3",1,7,null,"a",null,1,"n",[],null,null,null]', '["t1",3,1,7,null,"a",null,1,"n","*",null,null,null]']) {
      assert.equal(decodeEntry(raw), undefined, raw);
    }
  });
});

describe('renewing a held entry from a re-read', () => {
  const reread = (changes: Partial<typeof user>) => cacheEntry({ user: { ...user, ...changes }, token: { ...tokenEntry.token!, lastUsedAt: 1_700_000_009_000 } }, 1_700_000_010_000, 3);

  test('an unchanged credential is renewed in place, taking the re-read activity and stamps', () => {
    const held = decodeEntry(encodeEntry(tokenEntry))!;
    assert.equal(renew(held, reread({})), true);
    assert.equal(held.token!.lastUsedAt, 1_700_000_009_000);
    assert.equal(held.verifiedAt, 1_700_000_010_000);
  });

  test('a verified email is a change: the entry is replaced, never renewed hiding it', () => {
    const held = cacheEntry({ user: { ...user, emailVerifiedAt: null }, token: { ...tokenEntry.token! } }, 1_700_000_002_000, 3);
    assert.equal(renew(held, reread({ emailVerifiedAt: 1_700_000_008_000 })), false);
    assert.equal(held.user.emailVerifiedAt, null, 'left as it was, for the caller to replace');
  });
});
