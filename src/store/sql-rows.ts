// Row writes that more than one store does inside its own transactions.
import type { NewToken } from '../core/ports.js';
import type { Executor, SqlDatabase } from './sql-database.js';
import { USER_MODEL } from './schema.js';
import { toSqlTime } from './time.js';

/** A token row as Sanctum writes it (tokenable_type App\Models\User, JSON abilities). */
export function insertToken(database: SqlDatabase, trx: Executor, userId: number, token: NewToken): Promise<number> {
  const at = toSqlTime(token.createdAt);
  return database.insertId(trx, 'personal_access_tokens', {
    tokenable_type: USER_MODEL,
    tokenable_id: userId,
    name: token.name,
    token: token.hash,
    abilities: JSON.stringify(token.abilities),
    last_used_at: null,
    expires_at: token.expiresAt === null ? null : toSqlTime(token.expiresAt),
    created_at: at,
    updated_at: at,
  });
}

export function setPassword(executor: Executor, userId: number, passwordHash: string) {
  return executor.updateTable('users').set({ password: passwordHash, updated_at: toSqlTime(Date.now()) }).where('id', '=', userId).execute();
}
