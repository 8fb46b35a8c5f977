// Values every instance must agree on, kept in latchkey_settings: today the APP_KEY generated
// when none is configured (the first instance to start writes it; the others read that one).
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

const APP_KEY = 'app_key';

/** The configured APP_KEY, else the one kept in the database, generated (Laravel's form) if none is. */
export async function sharedAppKey(db: Kysely<Database>, configured: string | undefined): Promise<string> {
  if (configured !== undefined) return configured;
  const generated = `base64:${randomBytes(32).toString('base64')}`;
  try {
    await db.insertInto('latchkey_settings').values({ name: APP_KEY, value: generated }).execute();
  } catch {
    // Another instance wrote it first (primary key): that one is everyone's.
  }
  const row = await db.selectFrom('latchkey_settings').select('value').where('name', '=', APP_KEY).executeTakeFirstOrThrow();
  return row.value;
}
