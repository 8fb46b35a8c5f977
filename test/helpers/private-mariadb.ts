// A MariaDB server of the test's own (mariadb-install-db into a temp directory, mariadbd on a
// free loopback port), so a test can restart it and make it refuse latchkey in every way a server
// can. The test administers it as root over its Unix socket, on one connection kept open (MariaDB
// keeps a single slot beyond max_connections for such a user); latchkey connects over TCP as a
// user of its own with a password.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './ports.js';
import { fillConnectionSlots, run, type RefusingDatabase } from './refusing-database.js';

const DATABASE = 'latchkey';
const USER = `'latchkey'@'127.0.0.1'`;
const FILLER = `'filler'@'127.0.0.1'`;

export async function startPrivateMariadb(): Promise<RefusingDatabase> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-mariadb-'));
  const socket = join(dir, 'mariadb.sock');
  const password = randomBytes(8).toString('hex');
  let server: ChildProcess | undefined;
  let rootConnection: mysql.Connection | undefined;

  const start = async () => {
    // Few slots, so that other clients can take them all; durability is not under test.
    const args = [
      '--no-defaults',
      `--datadir=${join(dir, 'data')}`,
      '--user=root',
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      '--skip-name-resolve',
      '--max-connections=20',
      '--innodb-buffer-pool-size=16M',
      '--innodb-flush-log-at-trx-commit=0',
      '--performance-schema=OFF',
    ];
    const started = spawn('mariadbd', args, { stdio: 'ignore' });
    server = started;
    const failed = new Promise<never>((_, reject) => {
      started.once('error', (error) => reject(new Error(`cannot run mariadbd (is it installed?): ${error.message}`)));
      started.once('exit', (code) => reject(new Error(`mariadbd exited at start with code ${code}; see ${join(dir, 'error.log')}`)));
    });
    failed.catch(() => undefined);
    await Promise.race([failed, answering()]);
  };
  const answering = async () => {
    for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const connection = await mysql.createConnection({ socketPath: socket, user: 'root' }).catch(() => undefined);
      if (connection) return connection.end();
    }
    throw new Error(`mariadbd did not answer within 60 s; see ${join(dir, 'error.log')}`);
  };
  const shutdown = async () => {
    const running = server;
    if (!running) return;
    server = undefined;
    rootConnection = undefined;
    const exited = once(running, 'exit');
    await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'shutdown']).catch(() => running.kill('SIGKILL'));
    await exited;
  };
  /** root's connection, opened again when the server restarted or ended it. */
  const root = async () => {
    if (!rootConnection) {
      const opened = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
      opened.on('error', () => {
        if (rootConnection === opened) rootConnection = undefined;
      });
      rootConnection = opened;
    }
    return rootConnection;
  };
  const admin = async (sql: string) => (await (await root()).query(sql))[0];
  /** Ends latchkey's connections, so that it must open new ones (which the refusal then meets). */
  const endLatchkeyConnections = async () => {
    const rows = (await admin(`select id from information_schema.processlist where user = 'latchkey'`)) as { id: number }[];
    for (const { id } of rows) await admin(`kill connection ${id}`).catch(() => undefined); // it may have ended meanwhile
  };

  try {
    await run('mariadb-install-db', ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db']);
    await start();
    await admin(`create database ${DATABASE}`);
    await admin(`create user ${USER} identified by '${password}'; grant all on ${DATABASE}.* to ${USER}`);
    await admin(`create user ${FILLER} identified by '${password}'`);
  } catch (error) {
    await shutdown().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let releaseSlots: (() => Promise<void>) | undefined;
  return {
    kind: 'mysql',
    url: `mysql://latchkey:${password}@127.0.0.1:${port}/${DATABASE}`,
    async count(sql) {
      const rows = (await admin(`use ${DATABASE}; ${sql}`)) as [unknown, { n: number }[]];
      return Number(rows[1][0]!.n);
    },
    refusals: {
      restart: { name: 'a restart (mariadb-admin shutdown, then start)', inflict: shutdown, repair: start },
      refused: {
        name: 'its account locked (ACCOUNT LOCK, connections killed)',
        async inflict() {
          await admin(`alter user ${USER} account lock`);
          await endLatchkeyConnections();
        },
        repair: () => admin(`alter user ${USER} account unlock`).then(() => undefined),
      },
      full: {
        name: 'max_connections taken by other clients',
        async inflict() {
          releaseSlots = await fillConnectionSlots({
            async open() {
              const connection = await mysql.createConnection({ host: '127.0.0.1', port, user: 'filler', password });
              connection.on('error', () => undefined);
              return connection;
            },
            close: (connection) => connection.end(),
            isFull: (error) => (error as { code?: string }).code === 'ER_CON_COUNT_ERROR',
            latchkeyConnections: async () => ((await admin(`select id from information_schema.processlist where user = 'latchkey'`)) as unknown[]).length,
            endLatchkeyConnections,
          });
        },
        repair: async () => releaseSlots?.(),
      },
      gone: {
        // Its tables are moved aside first, so that it can come back with its data. MariaDB
        // leaves the connections open: their statements then find no tables.
        name: 'its database gone (DROP DATABASE, tables kept aside, then back)',
        async inflict() {
          await admin(`create database ${DATABASE}_aside; ${await renameAll(DATABASE, `${DATABASE}_aside`)}; drop database ${DATABASE}`);
        },
        async repair() {
          await admin(`create database ${DATABASE}; ${await renameAll(`${DATABASE}_aside`, DATABASE)}; drop database ${DATABASE}_aside`);
        },
      },
      password: {
        name: 'its password rotated (and its connections recycled)',
        async inflict() {
          await admin(`alter user ${USER} identified by '${password}-rotated'`);
          await endLatchkeyConnections();
        },
        repair: () => admin(`alter user ${USER} identified by '${password}'`).then(() => undefined),
      },
    },
    async close() {
      await releaseSlots?.();
      await rootConnection?.end().catch(() => undefined);
      await shutdown().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  /** One RENAME TABLE moving every table of `from` into `to`. */
  async function renameAll(from: string, to: string): Promise<string> {
    const tables = (await admin(`select table_name as name from information_schema.tables where table_schema = '${from}'`)) as { name: string }[];
    return `rename table ${tables.map(({ name }) => `${from}.\`${name}\` to ${to}.\`${name}\``).join(', ')}`;
  }
}
