// How inputs are checked (docs/api.md §3.5). An input is declared once, as a JSON Schema built from
// the helpers below: the HTTP routes give it as `schema.body`, which Fastify validates with the Ajv
// instance here (http/app.ts) and @fastify/swagger describes in /openapi.json; the CLI, which has no
// route, validates with the same instance (`validateInput`). Either way the answer is the one 422 of
// docs/api.md §3.2, naming every wrong field. The few rules JSON Schema cannot say (a new password's
// minimum and bytes, which depend on the configuration and the hasher; an email's shape once
// normalised) are the domain checks at the end, each written once, raising the same 422.
import { Ajv, type ErrorObject } from 'ajv';
import { normaliseEmail } from './emails.js';
import { validationFailed } from './errors.js';

export const MAX_EMAIL_LENGTH = 255;
export const MAX_NAME_LENGTH = 255;
export const MAX_ABILITIES = 100;
/**
 * Longest lifetime a token may be given (5 years): MySQL's TIMESTAMP, which Laravel uses for
 * `expires_at`, ends in 2038, and JavaScript dates end long before an unbounded integer.
 */
export const MAX_TOKEN_LIFETIME_MINUTES = 5 * 365 * 24 * 60;

// ---- schema helpers ------------------------------------------------------------------------

/** PostgreSQL cannot store NUL in text and C libraries stop at it: never a meaningful character. */
const WITHOUT_NUL = '^[^\\u0000]*$';

/** A required string: present, not null, not "" (both count as absent), without NUL. */
export function requiredString(maxLength?: number) {
  return { type: 'string', minLength: 1, ...(maxLength === undefined ? {} : { maxLength }), pattern: WITHOUT_NUL } as const;
}

/** An optional string: absent or null means not given. */
export function optionalString(maxLength: number) {
  return { type: ['string', 'null'], maxLength, pattern: WITHOUT_NUL } as const;
}

/**
 * A JSON object body. Unknown fields are ignored (they always were), so `additionalProperties`
 * is left open; Ajv never removes, coerces or defaults anything (see INPUT_OPTIONS).
 */
export function objectSchema<P extends Record<string, object>>(properties: P, required: (keyof P & string)[]) {
  return { type: 'object', required, properties } as const;
}

/** An object body that refuses unknown fields (each a 422 "is not allowed"). */
export function closedObjectSchema<P extends Record<string, object>>(properties: P, required: (keyof P & string)[]) {
  return { ...objectSchema(properties, required), additionalProperties: false } as const;
}

// ---- validation ----------------------------------------------------------------------------

const INPUT_OPTIONS = {
  allErrors: true, // one 422 names every wrong field; bodies are at most 64 KiB, so this stays cheap
  coerceTypes: false, // "10" is not the integer 10
  useDefaults: false, // defaults in a schema document what the core does with an absent field
  removeAdditional: false,
  verbose: true, // errors carry the value and the schema, for the messages below
  strict: true,
  allowUnionTypes: true, // ['string', 'null']
} as const;

/** The one Ajv of latchkey: Fastify compiles every route schema with it (http/app.ts). */
export const inputValidator = new Ajv(INPUT_OPTIONS);

/** Throws the 422 unless `input` matches `schema`: for inputs that arrive by no HTTP route. */
export function validateInput(schema: object, input: unknown): void {
  const validate = inputValidator.compile(schema);
  if (!validate(input)) throw validationFailed(fieldProblems(validate.errors ?? []));
}

/** Ajv's errors as docs/api.md's `fields`: one short phrase per field, the first found. */
export function fieldProblems(errors: ErrorObject[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const error of errors) {
    const path = error.instancePath.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (error.keyword === 'required') path.push(String(error.params.missingProperty));
    if (error.keyword === 'additionalProperties') path.push(String(error.params.additionalProperty));
    const [field, ...inside] = path;
    if (field === undefined) continue; // about the whole input: the caller answers that (http/app.ts)
    const where = inside.map((part) => (/^\d+$/.test(part) ? `item ${Number(part) + 1}` : part)).join(' ');
    fields[field] ??= where ? `${where} ${problem(error, false)}` : problem(error, true);
  }
  return fields;
}

function problem(error: ErrorObject, isField: boolean): string {
  const { keyword, params, data } = error;
  const schema = (error.parentSchema ?? {}) as Record<string, unknown>;
  // A field given as null or "" counts as absent (docs/api.md §3.5).
  if (isField && (data === null || data === '') && (keyword === 'type' || keyword === 'minLength')) return 'is required';
  switch (keyword) {
    case 'required':
      return 'is required';
    case 'type':
    case 'minimum':
    case 'maximum':
      return `must be ${expected(schema)}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters`;
    case 'maxLength':
      return `must be at most ${params.limit} characters`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${params.limit} items`;
    case 'maxItems':
      return `must have at most ${params.limit} items`;
    case 'pattern':
      return params.pattern === WITHOUT_NUL ? 'must not contain NUL characters' : `must match ${params.pattern}`;
    case 'additionalProperties':
      return 'is not allowed';
    default:
      return error.message ?? 'is invalid';
  }
}

/** What a schema asks for, in words: "a string", "a whole number from 1 to 5". */
function expected(schema: Record<string, unknown>): string {
  const types = ([] as unknown[]).concat(schema.type).filter((t) => t !== 'null');
  const type = types.length === 1 ? types[0] : undefined;
  const range = schema.minimum !== undefined && schema.maximum !== undefined ? ` from ${schema.minimum} to ${schema.maximum}` : '';
  switch (type) {
    case 'integer':
      return `a whole number${range}`;
    case 'number':
      return `a number${range}`;
    case 'string':
      return 'a string';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    case 'boolean':
      return 'true or false';
    default:
      return `of type ${types.join(' or ')}`;
  }
}

// ---- domain checks: what JSON Schema cannot say ---------------------------------------------

// Deliberately permissive (one @, something on each side, no spaces or control characters):
// the mailbox itself is the only real test of an address.
const EMAIL_SHAPE = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;

/** Collects one problem per field so that one 422 names them all. */
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

/** The email as stored (trimmed, lower-cased), if it still looks like one and fits the column. */
export function checkEmail(raw: string, errors: FieldErrors, field = 'email'): string {
  const value = normaliseEmail(raw);
  // Lower-casing can lengthen a string (İ → i̇): the schema's maxLength bounds the raw value only.
  if ([...value].length > MAX_EMAIL_LENGTH) errors.add(field, `must be at most ${MAX_EMAIL_LENGTH} characters`);
  else if (!EMAIL_SHAPE.test(value)) errors.add(field, 'must be an email address');
  return value;
}

/** A new password: at least `minLength` characters (PASSWORD_MIN_LENGTH), at most the hasher's bytes of UTF-8. */
export function checkNewPassword(value: string, errors: FieldErrors, minLength: number, maxBytes: number, field = 'password'): void {
  if ([...value].length < minLength) errors.add(field, `must be at least ${minLength} characters`);
  else if (Buffer.byteLength(value) > maxBytes) errors.add(field, `must be at most ${maxBytes} bytes`);
}
