// latchkey's SQL database (SQLite, PostgreSQL, MySQL/MariaDB): one connection, and the stores the
// core's ports name, side by side over it.
import type { ConnectOptions } from './connect.js';
import { SqlCacheStateStore, SqlLockStore } from './sql-cache-state.js';
import { SqlCredentialStore } from './sql-credentials.js';
import { SqlDatabase } from './sql-database.js';
import { SqlUserStore } from './sql-users.js';

export class SqlStore extends SqlDatabase {
  readonly users = new SqlUserStore(this);
  readonly credentials = new SqlCredentialStore(this);
  readonly cacheState = new SqlCacheStateStore(this);
  readonly locks = new SqlLockStore(this);

  constructor(url: string, options: ConnectOptions = {}) {
    super(url, options);
  }
}
