// Opens a Kysely instance for `sqlite:<path>`, `postgres://…` or `mysql://…`, with every driver
// set to return timestamps as Laravel's strings and ids as numbers.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  MysqlDialect,
  PostgresDialect,
  SqliteDialect,
  type LogEvent,
  type MysqlPool,
  type MysqlPoolConnection,
  type PostgresPool,
  type PostgresPoolClient,
} from 'kysely';
import { createPool as createMysqlPool, type Pool as Mysql2Pool } from 'mysql2';
import pg from 'pg';
import { acquisitionFailure, mysqlStatementFailure, pgStatementFailure } from './failures.js';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export interface Connection {
  db: Kysely<Database>;
  dialect: DialectName;
  /** Statements executed so far (tests and /metrics read it). */
  queryCount(): number;
}

const CONNECT_TIMEOUT_MS = 3000;

export function dialectOf(url: string): DialectName {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (/^postgres(ql)?:/.test(url)) return 'postgres';
  return 'mysql';
}

export interface ConnectOptions {
  /**
   * How long one statement may wait for PostgreSQL or MySQL before it fails (a silently stalled
   * network would otherwise hang it), and at most how long opening a connection may take; none
   * when unset, for migrations. SQLite cannot stall.
   */
  queryTimeoutMs?: number;
}

export function connect(url: string, options: ConnectOptions = {}): Connection {
  let count = 0;
  const log = (event: LogEvent) => {
    if (event.level === 'query') count++;
  };
  const dialect = dialectOf(url);
  const db = new Kysely<Database>({ dialect: makeDialect(dialect, url, options.queryTimeoutMs), log });
  return { db, dialect, queryCount: () => count };
}

function makeDialect(dialect: DialectName, url: string, queryTimeoutMs: number | undefined) {
  const connectTimeoutMs = Math.min(CONNECT_TIMEOUT_MS, queryTimeoutMs ?? CONNECT_TIMEOUT_MS);
  switch (dialect) {
    case 'sqlite': {
      const path = url.slice('sqlite:'.length);
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      const database = new SqliteDatabase(path);
      database.pragma('journal_mode = WAL');
      database.pragma('busy_timeout = 5000');
      database.pragma('foreign_keys = ON');
      return new SqliteDialect({ database });
    }
    case 'postgres': {
      const types = {
        getTypeParser(oid: number, format?: 'text' | 'binary') {
          if (oid === pg.types.builtins.INT8) return (v: string) => Number(v);
          if (oid === pg.types.builtins.TIMESTAMP || oid === pg.types.builtins.TIMESTAMPTZ) return (v: string) => v;
          return pg.types.getTypeParser(oid, format);
        },
      };
      const pool = new pg.Pool({
        connectionString: url,
        max: 10,
        connectionTimeoutMillis: connectTimeoutMs,
        // Client-side: a timed-out query's connection goes back to the pool and answers again,
        // in order, once the network moves (its late reply is discarded).
        query_timeout: queryTimeoutMs,
        types: types as pg.CustomTypesConfig,
      });
      pool.on('error', () => {
        /* an idle client lost its connection; the next checkout reconnects */
      });
      // pg emits 'error' on a checked-out client whose connection drops mid-query; the query
      // itself fails (and maps to 503), but an unlistened 'error' event would crash the process.
      pool.on('connect', (client) => {
        client.on('error', () => undefined);
      });
      return new PostgresDialect({ pool: failuresTaggedPg(pool) });
    }
    case 'mysql': {
      const pool = createMysqlPool({
        uri: url.replace(/^mariadb:/, 'mysql:'),
        connectionLimit: 10,
        connectTimeout: connectTimeoutMs,
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: false,
        timezone: 'Z',
      });
      // TIMESTAMP columns convert from the session time zone: keep it UTC like Laravel's default.
      pool.on('connection', (connection) => {
        connection.query("SET time_zone = '+00:00'");
      });
      return new MysqlDialect({ pool: failuresTaggedMysql(pool, queryTimeoutMs) });
    }
  }
}

/**
 * The pg pool as Kysely sees it, where it is known where a failure happened: acquiring a
 * connection, or a statement on one (see failures.ts). Kysely uses only query and release, and
 * streams only from streamQuery(), which latchkey never calls.
 */
function failuresTaggedPg(pool: pg.Pool): PostgresPool {
  return {
    async connect() {
      const client = await pool.connect().catch((error: unknown) => {
        throw acquisitionFailure(error);
      });
      const query = (sql: string, parameters: unknown[]) =>
        client.query(sql, parameters).catch((error: unknown) => {
          throw pgStatementFailure(error);
        });
      return { query: query as unknown as PostgresPoolClient['query'], release: (destroy?: boolean) => client.release(destroy) };
    },
    end: () => pool.end(),
  };
}

/**
 * The same for mysql2, whose connections also take a timeout per query only (Kysely passes
 * none): every query here carries `timeoutMs`, when there is one.
 */
function failuresTaggedMysql(pool: Mysql2Pool, timeoutMs: number | undefined): MysqlPool {
  return {
    getConnection(callback) {
      pool.getConnection((error, connection) => {
        if (error) return callback(acquisitionFailure(error), undefined as never);
        const query = (sql: string, parameters: unknown[], onResult: (error: unknown, result?: unknown) => void) =>
          connection.query({ sql, values: parameters, timeout: timeoutMs }, (error, result) => onResult(error ? mysqlStatementFailure(error) : null, result));
        callback(null, { query: query as unknown as MysqlPoolConnection['query'], release: () => connection.release() });
      });
    },
    end: (callback) => pool.end(callback),
  };
}
