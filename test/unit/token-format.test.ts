// docs/api.md §2: the Sanctum 4 token format, its CRC32 check, and every shape that must be refused
// before any store is asked.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, test } from 'node:test';
import { newSecret, parseToken, randomAlphanumeric, sha256Hex, tokenReader, type ParsedToken } from '../../src/core/token-format.js';

const PREFIX = 'lk_';
const crcHex = (s: string) => crc32(s).toString(16).padStart(8, '0');

/** A well-formed secret built independently of the code under test. */
function secretWith(entropy: string, prefix = PREFIX): string {
  return `${prefix}${entropy}${crcHex(entropy)}`;
}

const ENTROPY = 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ0bC2eF4hI6kL8n';

/** The server's reader (parse, then the CRC32 it leaves out) answers as the general parser. */
function readToken(raw: string, prefix: string): ParsedToken | null {
  const reader = tokenReader(prefix);
  const parsed = reader.parse(raw);
  return parsed && reader.checksumValid(raw) ? parsed : null;
}

const PARSERS: [string, (raw: string, prefix: string) => ParsedToken | null][] = [
  ['parseToken', parseToken],
  ['tokenReader', readToken],
];

describe('new secrets', () => {
  test('match {prefix}{40 of [A-Za-z0-9]}{crc32b hex of those 40}', () => {
    for (let i = 0; i < 200; i++) {
      const secret = newSecret(PREFIX);
      const m = /^lk_([A-Za-z0-9]{40})([0-9a-f]{8})$/.exec(secret);
      assert.ok(m, secret);
      assert.equal(m[2], crcHex(m[1]!));
    }
  });

  test('work without a prefix, as Sanctum with an empty token_prefix', () => {
    assert.match(newSecret(''), /^[A-Za-z0-9]{40}[0-9a-f]{8}$/);
  });

  test('are random: no repeats, every character class used', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => randomAlphanumeric(40)));
    assert.equal(seen.size, 1000);
    const all = [...seen].join('');
    assert.match(all, /[A-Z]/);
    assert.match(all, /[a-z]/);
    assert.match(all, /[0-9]/);
    assert.doesNotMatch(all, /[^A-Za-z0-9]/);
  });

  test('sha256Hex is the hex digest Sanctum stores', () => {
    const secret = secretWith(ENTROPY);
    assert.equal(sha256Hex(secret), createHash('sha256').update(secret).digest('hex'));
    assert.match(sha256Hex(secret), /^[0-9a-f]{64}$/);
  });
});

for (const [name, parse] of PARSERS) {
  describe(`${name} accepts`, () => {
    test('{id}|{secret}: the id, and the hash of the part after |', () => {
      const secret = secretWith(ENTROPY);
      assert.deepEqual(parse(`42|${secret}`, PREFIX), { id: 42, hash: sha256Hex(secret) });
    });

    test('a bare secret without {id}| (looked up by hash, as Sanctum does)', () => {
      const secret = secretWith(ENTROPY);
      assert.deepEqual(parse(secret, PREFIX), { id: null, hash: sha256Hex(secret) });
    });

    test('a token Laravel issued without a prefix, whatever TOKEN_PREFIX is', () => {
      const laravel = secretWith(ENTROPY, '');
      assert.deepEqual(parse(`7|${laravel}`, PREFIX), { id: 7, hash: sha256Hex(laravel) });
    });

    test("a Sanctum 2/3 token (40 random characters, no CRC)", () => {
      const old = ENTROPY;
      assert.deepEqual(parse(`3|${old}`, PREFIX), { id: 3, hash: sha256Hex(old) });
    });

    test('the largest id a BIGINT can hold that JavaScript counts exactly', () => {
      const secret = secretWith(ENTROPY);
      assert.equal(parse(`${Number.MAX_SAFE_INTEGER}|${secret}`, PREFIX)?.id, Number.MAX_SAFE_INTEGER);
    });
  });

  describe(`${name} refuses`, () => {
    const good = secretWith(ENTROPY);
    const flipped = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
    const cases: [string, string][] = [
      ['empty', ''],
      ['only a bar', '|'],
      ['an id and nothing', '5|'],
      ['no id before the bar', `|${good}`],
      ['id 0', `0|${good}`],
      ['a negative id', `-1|${good}`],
      ['a leading zero', `01|${good}`],
      ['a non-numeric id', `abc|${good}`],
      ['a hex id', `0x1|${good}`],
      ['a fractional id', `1.5|${good}`],
      ['a spaced id', ` 1|${good}`],
      ['an id beyond 2^63', `${2n ** 63n}|${good}`],
      ['an id of 30 digits', `${'9'.repeat(30)}|${good}`],
      ['an id past 2^53 (not exact in JavaScript)', `${2 ** 53 + 2}|${good}`],
      ['a wrong CRC', `1|${flipped}`],
      ['a wrong CRC, bare', flipped],
      ['a prefixed secret one character short', `1|${good.slice(0, -1)}`],
      ['a prefixed secret one character long', `1|${good}0`],
      ['a prefixed secret with a non-alphanumeric body', `1|lk_${'-'.repeat(40)}${crcHex('-'.repeat(40))}`],
      ['an underscore in the body, with its right CRC', `1|${secretWith(`${ENTROPY.slice(0, -1)}_`)}`],
      ['upper-case CRC hex', `1|lk_${ENTROPY}${crcHex(ENTROPY).toUpperCase()}`],
      ['a space inside', `1|lk_ ${good.slice(4)}`],
      ['a tab', `1|${good}\t`],
      ['unicode', `1|lk_ünïcødé${good.slice(10)}`],
      ['an emoji', '1|🔑'],
      ['a NUL', `1|${good}\u0000`],
      ['a control character', `1|\u0001${good}`],
      ['DEL', `1|${good}\u007f`],
      ['a huge secret', `1|${'a'.repeat(100_000)}`],
      ['a huge bare secret', 'a'.repeat(256)],
    ];
    for (const [label, raw] of cases) {
      test(label, () => assert.equal(parse(raw, PREFIX), null));
    }

    test('the CRC is checked for the configured prefix only', () => {
      // With TOKEN_PREFIX=acme_, an lk_ secret is not ours: it is looked up (and not found) rather than CRC-checked.
      assert.notEqual(parse(`1|${flipped}`, 'acme_'), null);
      assert.equal(parse(`1|acme_${ENTROPY}00000000`, 'acme_'), null);
      assert.notEqual(parse(`1|${secretWith(ENTROPY, 'acme_')}`, 'acme_'), null);
    });
  });
}

describe('tokenReader', () => {
  test('answers as parseToken for issued tokens, damaged ones and unusual prefixes', () => {
    for (const prefix of ['lk_', 'a.b+', '']) {
      const parse = (raw: string) => readToken(raw, prefix);
      for (let i = 0; i < 500; i++) {
        const secret = newSecret(prefix);
        const at = Math.floor(Math.random() * secret.length);
        const damaged = `${secret.slice(0, at)}${secret[at] === 'a' ? 'b' : 'a'}${secret.slice(at + 1)}`;
        const underscored = `${secret.slice(0, at)}_${secret.slice(at + 1)}`;
        const id = String(Math.floor(Math.random() * 10 ** (1 + (i % 17))) + 1);
        for (const raw of [`${id}|${secret}`, `${id}|${damaged}`, `${id}|${underscored}`, secret, `0${id}|${secret}`]) assert.deepEqual(parse(raw), parseToken(raw, prefix), raw);
      }
    }
  });

  test('parse() leaves only the CRC32 of an issued-shape token to checksumValid()', () => {
    const reader = tokenReader(PREFIX);
    const good = `5|${secretWith(ENTROPY)}`;
    const badCrc = `5|lk_${ENTROPY}00000000`;
    assert.deepEqual(reader.parse(badCrc), { id: 5, hash: sha256Hex(badCrc.slice(2)) });
    assert.equal(reader.checksumValid(badCrc), false);
    assert.equal(reader.checksumValid(good), true);
    assert.equal(reader.parse(`5|lk_${ENTROPY}0000000`), null, 'a wrong length is refused by parse() itself');
  });
});
