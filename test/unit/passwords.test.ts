// docs/api.md §2 passwords: bcrypt written as Laravel's `$2y$`, either algorithm verified, and the
// rehash rule (other algorithm, or bcrypt at another cost than BCRYPT_ROUNDS).
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import { after, describe, test } from 'node:test';
import { ARGON2_MAX_BYTES, BCRYPT_MAX_BYTES, LOGIN_MAX_BYTES, createPasswordHasher } from '../../src/core/passwords.js';

const bcrypt4 = createPasswordHasher('bcrypt', 4);
const argon = createPasswordHasher('argon2id', 4);
after(() => Promise.all([bcrypt4.close(), argon.close()]));

describe('bcrypt hasher', () => {
  test("writes Laravel's $2y$ at the configured cost, and verifies it", async () => {
    const hash = await bcrypt4.hash('correct horse');
    assert.match(hash, /^\$2y\$04\$[./A-Za-z0-9]{53}$/);
    assert.equal(await bcrypt4.verify('correct horse', hash), true);
    assert.equal(await bcrypt4.verify('correct horsE', hash), false);
    assert.equal(bcrypt4.needsRehash(hash), false);
  });

  test('verifies $2a$, $2b$ and $2y$ hashes alike', async () => {
    const b = await bcrypt.hash('pa55word!', 4);
    assert.match(b, /^\$2b\$/);
    for (const variant of ['$2a$', '$2b$', '$2y$']) {
      assert.equal(await bcrypt4.verify('pa55word!', variant + b.slice(4)), true, variant);
    }
  });

  test('needs a rehash at another cost, or for an argon2id hash', async () => {
    const cost5 = (await bcrypt.hash('x', 5)).replace('$2b$', '$2y$');
    assert.equal(bcrypt4.needsRehash(cost5), true);
    assert.equal(createPasswordHasher('bcrypt', 5).needsRehash(cost5), false);
    assert.equal(bcrypt4.needsRehash(await argon2.hash('x', { type: argon2.argon2id })), true);
  });

  test('a hash of a password longer than 72 bytes (as Laravel may have) still verifies', async () => {
    const long = 'p'.repeat(100);
    const laravelHash = (await bcrypt.hash(long, 4)).replace('$2b$', '$2y$');
    assert.equal(await bcrypt4.verify(long, laravelHash), true);
  });

  test('refuses new passwords over 72 bytes (the caller checks maxBytes)', () => {
    assert.equal(bcrypt4.maxBytes, BCRYPT_MAX_BYTES);
    assert.equal(BCRYPT_MAX_BYTES, 72);
    assert.equal(LOGIN_MAX_BYTES, 4096);
  });
});

describe('argon2id hasher', () => {
  test('writes $argon2id$, verifies it, and allows 1024 bytes', async () => {
    const hash = await argon.hash('correct horse');
    assert.match(hash, /^\$argon2id\$/);
    assert.equal(await argon.verify('correct horse', hash), true);
    assert.equal(await argon.verify('wrong horse', hash), false);
    assert.equal(argon.needsRehash(hash), false);
    assert.equal(argon.maxBytes, ARGON2_MAX_BYTES);
    assert.equal(ARGON2_MAX_BYTES, 1024);
  });

  test('verifies a bcrypt hash and wants it rehashed', async () => {
    const hash = await bcrypt4.hash('correct horse');
    assert.equal(await argon.verify('correct horse', hash), true);
    assert.equal(argon.needsRehash(hash), true);
  });

  test('an argon2i hash needs a rehash to argon2id', async () => {
    const argon2i = await argon2.hash('x', { type: argon2.argon2i });
    assert.equal(await argon.verify('x', argon2i), true);
    assert.equal(argon.needsRehash(argon2i), true);
  });
});

describe('stored hashes that are not hashes', () => {
  for (const stored of ['', 'plaintext', '$2y$04$short', '$argon2id$v=19$garbage', '$1$md5$crypt', 'null']) {
    test(`"${stored}" verifies nothing and does not throw`, async () => {
      assert.equal(await bcrypt4.verify('plaintext', stored), false);
      assert.equal(await argon.verify('plaintext', stored), false);
      assert.equal(bcrypt4.needsRehash(stored), true);
    });
  }
});
