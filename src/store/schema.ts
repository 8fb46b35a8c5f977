// Kysely table types. Laravel's `users` and Sanctum's `personal_access_tokens` keep Laravel's
// columns exactly; latchkey's own tables are prefixed `latchkey_`. Timestamps travel as
// Laravel writes them: 'YYYY-MM-DD HH:MM:SS' in UTC (see ./time.ts).
import type { Generated } from 'kysely';

export interface UsersTable {
  id: Generated<number>;
  name: string | null;
  email: string;
  email_verified_at: string | null;
  password: string;
  remember_token: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export interface PersonalAccessTokensTable {
  id: Generated<number>;
  tokenable_type: string;
  tokenable_id: number;
  name: string;
  token: string;
  abilities: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export interface SessionsTable {
  id: Generated<number>;
  user_id: number;
  /** SHA-256 hex of the cookie's secret; the secret itself is never stored. */
  secret_hash: string;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  last_active_at: string;
}

/** One row (id = 1): the cache epoch every instance polls, and the Redis it was sealed against. */
export interface CacheStateTable {
  id: number;
  epoch: number;
  redis_run_id: string | null;
  updated_at: string;
}

/** Lease for jobs that must run on one instance only (the scheduled prune without Redis). */
export interface LocksTable {
  name: string;
  holder: string;
  expires_at: string;
}

/** Laravel's password broker table: one row per email, the token stored hashed (Hash::make). */
export interface PasswordResetTokensTable {
  email: string;
  token: string;
  created_at: string | null;
}

/** Mails waiting to be sent (src/mail/outbox.ts); a row is deleted once its mail is sent. */
export interface MailOutboxTable {
  id: Generated<number>;
  template: string;
  recipient: string;
  /** JSON of the template's values; emptied once the mail is sent or given up. */
  payload: string;
  attempts: number;
  next_attempt_at: string;
  /** Which instance is sending it, until when (a lease: another instance takes over after). */
  lease_holder: string | null;
  lease_until: string | null;
  failed_at: string | null;
  last_error: string | null;
  created_at: string;
}

/** Values every instance must share, such as the generated APP_KEY. */
export interface SettingsTable {
  name: string;
  value: string;
}

export interface Database {
  users: UsersTable;
  personal_access_tokens: PersonalAccessTokensTable;
  latchkey_sessions: SessionsTable;
  latchkey_cache_state: CacheStateTable;
  latchkey_locks: LocksTable;
  password_reset_tokens: PasswordResetTokensTable;
  latchkey_mail_outbox: MailOutboxTable;
  latchkey_settings: SettingsTable;
}

export const USER_MODEL = 'App\\Models\\User';
