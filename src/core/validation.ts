// Input rules of API.md §2–3. Each check records a message per field, so one 422 names every
// problem at once.
import { validationFailed } from './errors.js';

export const MAX_EMAIL_LENGTH = 255;
export const MAX_NAME_LENGTH = 255;
export const MAX_ABILITIES = 100;
/**
 * Longest lifetime a token may be given (5 years): MySQL's TIMESTAMP, which Laravel uses for
 * `expires_at`, ends in 2038, and JavaScript dates end long before an unbounded integer.
 */
export const MAX_TOKEN_LIFETIME_MINUTES = 5 * 365 * 24 * 60;

/** PostgreSQL cannot store it in text and C libraries stop at it: never a meaningful character. */
const NUL = '\u0000';

// Deliberately permissive (one @, something on each side, no spaces or control characters):
// the mailbox itself is the only real test of an address.
const EMAIL_SHAPE = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;

export type Body = Record<string, unknown>;

export class FieldErrors {
  private readonly fields: Record<string, string> = {};

  add(field: string, problem: string): void {
    this.fields[field] ??= problem;
  }

  throwIfAny(): void {
    if (Object.keys(this.fields).length > 0) throw validationFailed(this.fields);
  }
}

export function validationFailedFor(field: string, problem: string) {
  return validationFailed({ [field]: problem });
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function requiredString(body: Body, field: string, errors: FieldErrors): string | undefined {
  const value = body[field];
  if (value === undefined || value === null || value === '') {
    errors.add(field, 'is required');
    return undefined;
  }
  return plainString(value, field, errors);
}

export function optionalString(body: Body, field: string, errors: FieldErrors, maxLength: number): string | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value as null | undefined;
  const text = plainString(value, field, errors);
  if (text !== undefined && [...text].length > maxLength) {
    errors.add(field, `must be at most ${maxLength} characters`);
    return undefined;
  }
  return text;
}

/** The value if it is a string without NUL (which databases truncate or refuse), else records why not. */
function plainString(value: unknown, field: string, errors: FieldErrors): string | undefined {
  if (typeof value !== 'string') {
    errors.add(field, 'must be a string');
    return undefined;
  }
  if (value.includes(NUL)) {
    errors.add(field, 'must not contain NUL characters');
    return undefined;
  }
  return value;
}

export function email(body: Body, errors: FieldErrors, field = 'email'): string | undefined {
  const raw = requiredString(body, field, errors);
  if (raw === undefined) return undefined;
  const value = normaliseEmail(raw);
  if (value.length > MAX_EMAIL_LENGTH) errors.add(field, `must be at most ${MAX_EMAIL_LENGTH} characters`);
  else if (!EMAIL_SHAPE.test(value)) errors.add(field, 'must be an email address');
  else return value;
  return undefined;
}

/** A new password: at least `minLength` characters, at most `maxBytes` bytes of UTF-8. */
export function newPassword(body: Body, field: string, errors: FieldErrors, minLength: number, maxBytes: number): string | undefined {
  const value = requiredString(body, field, errors);
  if (value === undefined) return undefined;
  if ([...value].length < minLength) errors.add(field, `must be at least ${minLength} characters`);
  else if (Buffer.byteLength(value) > maxBytes) errors.add(field, `must be at most ${maxBytes} bytes`);
  else return value;
  return undefined;
}

export function abilities(body: Body, errors: FieldErrors): string[] | undefined {
  const value = body.abilities;
  if (value === undefined || value === null) return ['*'];
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ABILITIES) {
    errors.add('abilities', `must be a non-empty array of at most ${MAX_ABILITIES} strings`);
    return undefined;
  }
  if (!value.every((a) => typeof a === 'string' && a.length > 0 && [...a].length <= MAX_NAME_LENGTH && !a.includes(NUL))) {
    errors.add('abilities', `each ability must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, without NUL`);
    return undefined;
  }
  return [...new Set(value as string[])];
}

/** A positive JSON integer (not a string) up to `max`; by default a token lifetime in minutes. */
export function positiveInteger(body: Body, field: string, errors: FieldErrors, max = MAX_TOKEN_LIFETIME_MINUTES): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > max) {
    errors.add(field, `must be a whole number from 1 to ${max}`);
    return undefined;
  }
  return value;
}

/** A body with a field not in `allowed` is 422: a misspelt field must not be silently ignored. */
export function onlyFields(body: Body, allowed: readonly string[], errors: FieldErrors): void {
  for (const field of Object.keys(body)) if (!allowed.includes(field)) errors.add(field, 'is not allowed');
}
