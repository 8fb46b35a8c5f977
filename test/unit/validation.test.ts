// Input rules of docs/api.md §2–3 that every route relies on: one 422 naming every field with a
// short phrase, emails normalised, NUL refused (PostgreSQL cannot store it), token lifetimes bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../../src/core/errors.js';
import * as v from '../../src/core/validation.js';

function fieldsOf(check: () => void): Record<string, string> | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'validation_failed');
    return error.fields;
  }
}

const schema = v.objectSchema(
  {
    a: v.requiredString(),
    b: v.optionalString(10),
    name: v.optionalString(255),
    abilities: { type: ['array', 'null'], minItems: 1, maxItems: v.MAX_ABILITIES, items: v.requiredString(255) },
    m: { type: ['integer', 'null'], minimum: 1, maximum: v.MAX_TOKEN_LIFETIME_MINUTES },
  },
  ['a'],
);
const problems = (input: unknown) => fieldsOf(() => v.validateInput(schema, input));

function domain(check: (errors: v.FieldErrors) => void): Record<string, string> | undefined {
  return fieldsOf(() => {
    const errors = new v.FieldErrors();
    check(errors);
    errors.throwIfAny();
  });
}

describe('schemas', () => {
  test('one error names every field, with the phrases of docs/api.md §3.5', () => {
    assert.deepEqual(problems({ b: 5, name: 'n'.repeat(256), abilities: [], m: '10' }), {
      a: 'is required',
      b: 'must be a string',
      name: 'must be at most 255 characters',
      abilities: 'must not be empty',
      m: `must be a whole number from 1 to ${v.MAX_TOKEN_LIFETIME_MINUTES}`,
    });
  });

  test('null and "" count as absent: required is required, optional is fine', () => {
    assert.deepEqual(problems({ a: null }), { a: 'is required' });
    assert.deepEqual(problems({ a: '' }), { a: 'is required' });
    assert.equal(problems({ a: 'x', b: null, abilities: null, m: null }), undefined);
  });

  test('unknown fields are ignored and nothing is coerced or removed', () => {
    const input = { a: 'x', extra: { anything: true } };
    assert.equal(problems(input), undefined);
    assert.deepEqual(input, { a: 'x', extra: { anything: true } });
    assert.deepEqual(problems({ a: 1 }), { a: 'must be a string' });
    assert.deepEqual(problems({ a: ['x'] }), { a: 'must be a string' });
  });

  test('NUL is refused in every kind of string field', () => {
    const fields = problems({ a: 'x\u0000', b: '\u0000', abilities: ['read\u0000'] });
    assert.deepEqual(Object.keys(fields!).sort(), ['a', 'abilities', 'b']);
    for (const problem of Object.values(fields!)) assert.match(problem, /NUL/);
    assert.equal(fields!.abilities, 'item 1 must not contain NUL characters');
  });

  test('lengths count characters, not UTF-16 units', () => {
    assert.equal(problems({ a: 'x', name: '😀'.repeat(255) }), undefined);
    assert.ok(problems({ a: 'x', name: '😀'.repeat(256) })?.name);
  });

  test('array items are named by position', () => {
    assert.deepEqual(problems({ a: 'x', abilities: ['read', 7] }), { abilities: 'item 2 must be a string' });
    assert.deepEqual(problems({ a: 'x', abilities: [''] }), { abilities: 'item 1 must not be empty' });
    assert.deepEqual(problems({ a: 'x', abilities: Array.from({ length: 101 }, (_, i) => `a${i}`) }), { abilities: 'must have at most 100 items' });
    assert.deepEqual(problems({ a: 'x', abilities: 'read' }), { abilities: 'must be an array' });
  });

  test('token lifetimes: a positive JSON integer up to five years', () => {
    assert.equal(v.MAX_TOKEN_LIFETIME_MINUTES, 5 * 365 * 24 * 60);
    assert.equal(problems({ a: 'x', m: v.MAX_TOKEN_LIFETIME_MINUTES }), undefined);
    for (const bad of [0, -1, 1.5, '10', true, v.MAX_TOKEN_LIFETIME_MINUTES + 1, Number.MAX_SAFE_INTEGER, 1e300]) {
      assert.ok(problems({ a: 'x', m: bad })?.m, String(bad));
    }
  });
});

describe('domain checks', () => {
  test('emails are trimmed and lower-cased', () => {
    let value: string | undefined;
    assert.equal(domain((e) => (value = v.checkEmail('  Ann.Lee@Example.COM\n', e))), undefined);
    assert.equal(value, 'ann.lee@example.com');
  });

  for (const bad of ['plain', 'a@', '@b', 'a@@b', 'a b@c.d', 'a@b\u0001c', 'a\u007f@b.c', `${'x'.repeat(251)}@b.cd`, `${'İ'.repeat(250)}@b.cd`]) {
    test(`${JSON.stringify(bad.slice(0, 20))} is refused`, () => {
      assert.ok(domain((e) => v.checkEmail(bad, e))?.email);
    });
  }

  test('unicode and quotes are allowed in emails (the mailbox is the real test)', () => {
    assert.equal(domain((e) => v.checkEmail("o'brien+ünï@exämple.com", e)), undefined);
  });

  test('new passwords: at least the minimum in characters, at most the maximum in bytes', () => {
    assert.deepEqual(domain((e) => v.checkNewPassword('é'.repeat(7), e, 8, 72)), { password: 'must be at least 8 characters' });
    assert.equal(domain((e) => v.checkNewPassword('é'.repeat(36), e, 8, 72)), undefined);
    assert.deepEqual(domain((e) => v.checkNewPassword('é'.repeat(37), e, 8, 72)), { password: 'must be at most 72 bytes' });
  });
});
