// Input rules of docs/api.md §2–3 that every route relies on: one 422 naming every field, emails
// normalised, NUL refused (PostgreSQL cannot store it), token lifetimes bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../../src/core/errors.js';
import * as v from '../../src/core/validation.js';

function fieldsOf(check: (errors: v.FieldErrors) => void): Record<string, string> | undefined {
  const errors = new v.FieldErrors();
  check(errors);
  try {
    errors.throwIfAny();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'validation_failed');
    return error.fields;
  }
}

describe('emails', () => {
  test('are trimmed and lower-cased', () => {
    let value: string | undefined;
    assert.equal(fieldsOf((e) => (value = v.email({ email: '  Ann.Lee@Example.COM\n' }, e))), undefined);
    assert.equal(value, 'ann.lee@example.com');
  });

  for (const bad of ['plain', 'a@', '@b', 'a@@b', 'a b@c.d', 'a@b\u0001c', 'a\u007f@b.c', `${'x'.repeat(251)}@b.cd`]) {
    test(`${JSON.stringify(bad.slice(0, 20))} is refused`, () => {
      assert.ok(fieldsOf((e) => v.email({ email: bad }, e))?.email);
    });
  }

  test('unicode and quotes are allowed (the mailbox is the real test)', () => {
    assert.equal(fieldsOf((e) => v.email({ email: "o'brien+ünï@exämple.com" }, e)), undefined);
  });
});

describe('strings', () => {
  test('NUL is refused in every kind of string field', () => {
    const fields = fieldsOf((e) => {
      v.requiredString({ a: 'x\u0000' }, 'a', e);
      v.optionalString({ b: '\u0000' }, 'b', e, 10);
      v.abilities({ abilities: ['read\u0000'] }, e);
    });
    assert.deepEqual(Object.keys(fields!).sort(), ['a', 'abilities', 'b']);
    assert.match(fields!.a!, /NUL/);
    assert.match(fields!.abilities!, /NUL/);
  });

  test('lengths count characters, not UTF-16 units', () => {
    assert.equal(fieldsOf((e) => v.optionalString({ name: '😀'.repeat(255) }, 'name', e, 255)), undefined);
    assert.ok(fieldsOf((e) => v.optionalString({ name: '😀'.repeat(256) }, 'name', e, 255))?.name);
  });

  test('passwords: at least the minimum in characters, at most the maximum in bytes', () => {
    assert.ok(fieldsOf((e) => v.newPassword({ p: 'é'.repeat(7) }, 'p', e, 8, 72))?.p);
    assert.equal(fieldsOf((e) => v.newPassword({ p: 'é'.repeat(36) }, 'p', e, 8, 72)), undefined);
    assert.ok(fieldsOf((e) => v.newPassword({ p: 'é'.repeat(37) }, 'p', e, 8, 72))?.p);
  });

  test('one error names every field', () => {
    assert.deepEqual(Object.keys(fieldsOf((e) => (v.email({}, e), v.requiredString({ password: 5 }, 'password', e)))!).sort(), ['email', 'password']);
  });
});

describe('token lifetimes', () => {
  test('a positive JSON integer up to five years', () => {
    assert.equal(v.MAX_TOKEN_LIFETIME_MINUTES, 5 * 365 * 24 * 60);
    assert.equal(fieldsOf((e) => v.positiveInteger({ m: v.MAX_TOKEN_LIFETIME_MINUTES }, 'm', e)), undefined);
    for (const bad of [0, -1, 1.5, '10', true, v.MAX_TOKEN_LIFETIME_MINUTES + 1, Number.MAX_SAFE_INTEGER, Infinity]) {
      assert.ok(fieldsOf((e) => v.positiveInteger({ m: bad }, 'm', e))?.m, String(bad));
    }
  });
});
