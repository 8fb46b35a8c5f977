// A PostgreSQL cluster of the test's own (initdb into a temp directory, pg_ctl on a free loopback
// port), so a test can restart it and make it refuse latchkey in every way a server can.
// PostgreSQL refuses to run as root: the cluster belongs to the `postgres` OS user, and its
// commands run through runuser. The test administers it as the superuser over its Unix socket
// (trusted, and served from the slots reserved for superusers when ordinary ones are full);
// latchkey connects over TCP as a role of its own with a password.
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { fillConnectionSlots, run, type RefusingDatabase } from './refusing-database.js';

const OS_USER = 'postgres';
const DATABASE = 'latchkey';
const ROLE = 'latchkey';
const FILLER = 'filler';

export async function startPrivatePostgres(): Promise<RefusingDatabase> {
  const bin = postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(8).toString('hex');
  const asPostgres = (command: string, args: string[]) =>
    userInfo().username === OS_USER ? run(join(bin, command), args) : run('runuser', ['-u', OS_USER, '--', join(bin, command), ...args]);
  const pgCtl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), ...args]);

  /** One statement as the superuser, on a connection of its own, in `database`. */
  const admin = async (sql: string, database = 'postgres') => {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  /** Ends latchkey's sessions, so that it must open new ones (which the refusal then meets). */
  const endLatchkeySessions = () => admin(`select pg_terminate_backend(pid) from pg_stat_activity where usename = '${ROLE}'`);

  try {
    if (userInfo().username !== OS_USER) await run('chown', [OS_USER, dir]);
    await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    // Few slots, so that other clients can take them all; durability is not under test.
    const settings = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      max_connections: '20',
      superuser_reserved_connections: '3',
      fsync: 'off',
      full_page_writes: 'off',
      synchronous_commit: 'off',
      shared_buffers: '16MB',
    };
    appendFileSync(join(data, 'postgresql.conf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
    await pgCtl('start', '-w');
    await admin(`create role ${ROLE} login password '${password}'`);
    await admin(`create role ${FILLER} login password '${password}'`);
    await admin(`create database ${DATABASE} owner ${ROLE}`);
  } catch (error) {
    await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let releaseSlots: (() => Promise<void>) | undefined;
  return {
    kind: 'postgres',
    url: `postgres://${ROLE}:${password}@127.0.0.1:${port}/${DATABASE}`,
    async count(sql) {
      return Number((await admin(sql, DATABASE))[0].n);
    },
    refusals: {
      restart: {
        name: 'a restart (pg_ctl stop -m fast, then start)',
        inflict: () => pgCtl('stop', '-m', 'fast', '-w').then(() => undefined),
        repair: () => pgCtl('start', '-w').then(() => undefined),
      },
      refused: {
        name: 'connections to its database refused (ALLOW_CONNECTIONS false, sessions terminated)',
        async inflict() {
          await admin(`alter database ${DATABASE} with allow_connections false`);
          await endLatchkeySessions();
        },
        repair: () => admin(`alter database ${DATABASE} with allow_connections true`).then(() => undefined),
      },
      full: {
        name: 'max_connections taken by other clients',
        async inflict() {
          releaseSlots = await fillConnectionSlots({
            async open() {
              const client = new pg.Client({ host: '127.0.0.1', port, user: FILLER, password, database: 'postgres' });
              client.on('error', () => undefined);
              await client.connect();
              return client;
            },
            close: (client) => client.end(),
            isFull: (error) => (error as { code?: string }).code === '53300',
            latchkeyConnections: async () => Number((await admin(`select count(*) as n from pg_stat_activity where usename = '${ROLE}'`))[0].n),
            endLatchkeyConnections: () => endLatchkeySessions().then(() => undefined),
          });
        },
        repair: async () => releaseSlots?.(),
      },
      gone: {
        // Renamed away rather than dropped, so that it can come back with its data: to latchkey
        // it is the same (FATAL 3D000, database "latchkey" does not exist).
        name: 'its database gone (renamed away, then back)',
        async inflict() {
          await admin(`alter database ${DATABASE} with allow_connections false`);
          await endLatchkeySessions();
          await admin(`alter database ${DATABASE} rename to ${DATABASE}_gone`);
        },
        async repair() {
          await admin(`alter database ${DATABASE}_gone rename to ${DATABASE}`);
          await admin(`alter database ${DATABASE} with allow_connections true`);
        },
      },
      password: {
        name: 'its password rotated (and its sessions recycled)',
        async inflict() {
          await admin(`alter role ${ROLE} password '${password}-rotated'`);
          await endLatchkeySessions();
        },
        repair: () => admin(`alter role ${ROLE} password '${password}'`).then(() => undefined),
      },
    },
    async close() {
      await releaseSlots?.();
      await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The newest server installed under /usr/lib/postgresql/<version>/bin (Debian's layout). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL server under ${root}/*/bin (initdb, pg_ctl): install the postgresql package`);
  return join(root, newest, 'bin');
}
