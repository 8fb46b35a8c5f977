// The cache epoch row (CacheStateStore, docs/revocation.md) and the scheduler's leases (LockStore).
import type { CacheStateStore, LockStore } from '../core/ports.js';
import { guard } from './failures.js';
import { isUniqueViolation, type SqlDatabase } from './sql-database.js';
import { toSqlTime } from './time.js';

export class SqlCacheStateStore implements CacheStateStore {
  /** Every instance polls the epoch 20 times a second: compiled once, that costs less than half the CPU. */
  private readonly readQuery;

  constructor(private readonly database: SqlDatabase) {
    this.readQuery = database.db.selectFrom('latchkey_cache_state').select(['epoch', 'redis_run_id']).where('id', '=', 1).compile();
  }

  async read() {
    const { rows } = await guard(this.database.db.executeQuery(this.readQuery));
    const row = rows[0];
    if (!row) throw new Error('latchkey_cache_state has no row: run `latchkey migrate`');
    return { epoch: Number(row.epoch), redisRunId: row.redis_run_id };
  }

  async bump(redisRunId?: string | null): Promise<number> {
    return this.database.transaction(async (trx) => {
      await trx
        .updateTable('latchkey_cache_state')
        .set((eb) => ({
          epoch: eb('epoch', '+', 1),
          updated_at: toSqlTime(Date.now()),
          ...(redisRunId === undefined ? {} : { redis_run_id: redisRunId }),
        }))
        .where('id', '=', 1)
        .execute();
      const row = await trx.selectFrom('latchkey_cache_state').select('epoch').where('id', '=', 1).executeTakeFirstOrThrow();
      return Number(row.epoch);
    });
  }
}

export class SqlLockStore implements LockStore {
  constructor(private readonly database: SqlDatabase) {}

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const { db } = this.database;
    const now = Date.now();
    // Drop expired leases (this one's, and old ticks' so the table stays small), then insert:
    // whoever's row is there afterwards holds it. No transaction: a unique violation aborts a
    // PostgreSQL transaction, and neither statement needs the other's isolation.
    await guard(db.deleteFrom('latchkey_locks').where('expires_at', '<', toSqlTime(now)).execute());
    try {
      await guard(db.insertInto('latchkey_locks').values({ name, holder, expires_at: toSqlTime(now + ttlMs) }).execute());
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}
