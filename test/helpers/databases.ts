// Fresh, isolated databases for tests: a temp SQLite file, a new PostgreSQL schema or a new
// MariaDB database per call. A missing server makes the test fail loudly (never skip).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { MYSQL_ADMIN_URL, PG_ADMIN_URL } from '../setup/requirements.mjs';

export type DbKind = 'sqlite' | 'postgres' | 'mysql';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres', 'mysql'];

export { MYSQL_ADMIN_URL, PG_ADMIN_URL };

export interface TestDatabase {
  kind: DbKind;
  url: string;
  drop(): Promise<void>;
}

const uniqueName = () => `lk_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

export async function freshDatabase(kind: DbKind): Promise<TestDatabase> {
  switch (kind) {
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'));
      return { kind, url: `sqlite:${join(dir, 'latchkey.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
    }
    case 'postgres': {
      // A database, not a schema, per stack: PostgreSQL's catalog is per database, and Kysely's
      // introspection (run by every migrate) fails if another suite drops a schema under it.
      const database = uniqueName();
      await withPg((c) => c.query(`create database ${database}`));
      const url = new URL(PG_ADMIN_URL);
      url.pathname = `/${database}`;
      return {
        kind,
        url: url.toString(),
        drop: () => withPg((c) => c.query(`drop database if exists ${database} with (force)`)).then(() => undefined),
      };
    }
    case 'mysql': {
      const database = uniqueName();
      await withMysql((c) => c.query(`create database ${database}`));
      const url = new URL(MYSQL_ADMIN_URL);
      url.pathname = `/${database}`;
      return { kind, url: url.toString(), drop: () => withMysql((c) => c.query(`drop database if exists ${database}`)).then(() => undefined) };
    }
  }
}

async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function withMysql<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection(MYSQL_ADMIN_URL);
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}
