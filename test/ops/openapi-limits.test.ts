// Every limit /openapi.json documents for a request body is the one enforced: the test walks the
// document, and for each property with a required, maxLength, minLength, maxItems, minItems, maximum
// or minimum (items' limits included) sends a value just past it, which must be 422 naming that
// field, and one just within it, which must succeed. The document and the validation come from the
// same route schemas; this proves it from the outside.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { register, useStack, type Reply, type RequestOptions, type TestApp } from '../helpers/app.js';
import { toSqlTime } from '../../src/store/time.js';

interface PropertySchema {
  type?: string | string[];
  maxLength?: number;
  minLength?: number;
  maxItems?: number;
  minItems?: number;
  maximum?: number;
  minimum?: number;
  items?: PropertySchema;
}

interface BodySchema {
  required?: string[];
  properties: Record<string, PropertySchema>;
}

/** A request that succeeds, prepared afresh for each probe (a password change revokes its token). */
type Valid = (app: TestApp) => Promise<{ body: Record<string, unknown> } & Omit<RequestOptions, 'body'>>;

const unique = () => randomBytes(4).toString('hex');

/** A valid body for every documented operation that takes one: a new one fails the test until it is added here. */
const VALID: Record<string, Valid> = {
  'post /api/auth/register': async () => ({ body: { email: `lim${unique()}@example.com`, password: 'correct horse', name: 'Ann', device_name: 'phone' } }),
  'post /api/auth/login': async (app) => {
    const { email, password } = await register(app);
    return { body: { email, password, device_name: 'phone' } };
  },
  'put /api/auth/password': async (app) => {
    const { token, password } = await register(app);
    return { token, body: { current_password: password, password: 'new password 1' } };
  },
  'post /api/auth/tokens': async (app) => {
    const { token } = await register(app);
    return { token, body: { name: 'limits', abilities: ['read'], expires_in_minutes: 60 } };
  },
  'post /api/auth/session': async (app) => {
    const { email, password } = await register(app);
    const xsrf = (await app.request('GET', '/api/auth/csrf-cookie')).cookies['XSRF-TOKEN']!;
    return { body: { email, password }, cookies: { 'XSRF-TOKEN': xsrf }, headers: { 'x-xsrf-token': xsrf } };
  },
  'post /api/auth/forgot-password': async () => ({ body: { email: `lim${unique()}@example.com` } }),
  'post /api/auth/reset-password': async (app) => {
    // An email at its maximum length, so that the probe "at the limit" still names this account.
    const { email } = await register(app, sized(`lim${unique()}@example.com`, 255));
    const token = randomBytes(32).toString('hex');
    const row = { email, token: await app.latchkey.hasher.hash(token), created_at: toSqlTime(Date.now()) };
    await app.latchkey.store.db.insertInto('password_reset_tokens').values(row).execute();
    return { body: { email, token, password: 'new password 1' } };
  },
};

const MISSING = Symbol('missing');

interface Probe {
  field: string;
  limit: string;
  /** The value to send, from the field's value in the valid body. */
  value: (valid: unknown) => unknown;
  passes: boolean;
}

/** `base` padded in front (or cut) to `length` characters: an email stays an email. */
function sized(base: unknown, length: number): string {
  const text = String(base);
  return length >= text.length ? 'x'.repeat(length - text.length) + text : text.slice(0, length);
}

function items(count: number, make: (i: number) => string = (i) => `a${i}`): string[] {
  return Array.from({ length: count }, (_, i) => make(i));
}

/** Just past and just within each limit of one property. */
function probesOf(field: string, schema: PropertySchema, required: boolean): Probe[] {
  const probes: Probe[] = [];
  const both = (limit: string, past: (v: unknown) => unknown, within: (v: unknown) => unknown) =>
    probes.push({ field, limit, value: past, passes: false }, { field, limit, value: within, passes: true });
  if (required) both('required', () => MISSING, (v) => v);
  const { maxLength, minLength, maxItems, minItems, maximum, minimum, items: item } = schema;
  if (maxLength !== undefined) both(`maxLength ${maxLength}`, (v) => sized(v, maxLength + 1), (v) => sized(v, maxLength));
  if (minLength !== undefined) both(`minLength ${minLength}`, (v) => sized(v, minLength - 1), (v) => v);
  if (maxItems !== undefined) both(`maxItems ${maxItems}`, () => items(maxItems + 1), () => items(maxItems));
  if (minItems !== undefined) both(`minItems ${minItems}`, () => items(minItems - 1), () => items(minItems));
  if (item?.maxLength !== undefined) {
    const length = item.maxLength;
    both(`items maxLength ${length}`, () => items(1, () => 'a'.repeat(length + 1)), () => items(1, () => 'a'.repeat(length)));
  }
  if (item?.minLength !== undefined) {
    const length = item.minLength;
    both(`items minLength ${length}`, () => items(1, () => 'a'.repeat(length - 1)), () => items(1, () => 'a'.repeat(length)));
  }
  if (maximum !== undefined) both(`maximum ${maximum}`, () => maximum + 1, () => maximum);
  if (minimum !== undefined) both(`minimum ${minimum}`, () => minimum - 1, () => minimum);
  return probes;
}

describe('every request-body limit in /openapi.json is enforced', () => {
  const ctx = useStack({ db: 'sqlite', cache: 'memory' });
  const operations: { key: string; method: string; path: string; schema: BodySchema }[] = [];
  before(async () => {
    const spec = (await ctx.app.request('GET', '/openapi.json')).body;
    for (const [path, byMethod] of Object.entries<Record<string, any>>(spec.paths)) {
      for (const [method, operation] of Object.entries<any>(byMethod)) {
        const schema = operation?.requestBody?.content?.['application/json']?.schema;
        if (schema) operations.push({ key: `${method} ${path}`, method: method.toUpperCase(), path, schema });
      }
    }
  });

  test('the document describes the bodies, with the limits the code enforces', () => {
    assert.deepEqual(operations.map((o) => o.key).sort(), Object.keys(VALID).sort(), 'every body has a valid example here');
    const limits = operations.flatMap((o) => Object.entries(o.schema.properties).flatMap(([field, p]) => probesOf(field, p, false).map((x) => `${o.key} ${field} ${x.limit}`)));
    // The two that the hand checks once enforced without documenting them.
    assert.ok(limits.includes('post /api/auth/register name maxLength 255'));
    assert.ok(limits.includes('post /api/auth/tokens abilities maxItems 100'));
  });

  test('one past each limit is 422 naming the field; at the limit is accepted', async () => {
    let probed = 0;
    for (const { key, method, path, schema } of operations) {
      for (const [field, property] of Object.entries(schema.properties)) {
        for (const probe of probesOf(field, property, schema.required?.includes(field) ?? false)) {
          const { body, ...options } = await VALID[key]!(ctx.app);
          const value = probe.value(body[field]);
          const sent = { ...body };
          if (value === MISSING) delete sent[field];
          else sent[field] = value;
          const reply: Reply = await ctx.app.request(method, path, { ...options, body: sent });
          const label = `${key} ${field} ${probe.limit} ${probe.passes ? 'within' : 'past'}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`;
          if (probe.passes) {
            assert.ok(reply.status >= 200 && reply.status < 300, label);
          } else {
            assert.equal(reply.status, 422, label);
            assert.equal(reply.body.error.code, 'validation_failed', label);
            assert.deepEqual(Object.keys(reply.body.error.fields), [field], label);
          }
          probed++;
        }
      }
    }
    assert.ok(probed >= 40, `${probed} probes`);
  });
});
