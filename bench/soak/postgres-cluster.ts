// A private PostgreSQL cluster on a free loopback port (initdb + pg_ctl in a temp directory), so
// the soak can stop and restart it without touching the shared server on 5432. PostgreSQL refuses
// to run as root, so as root its commands run as the `postgres` OS user (runuser).
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../lib/processes.js';

const exec = promisify(execFile);

export interface PostgresCluster {
  port: number;
  /** The `postgres` superuser's URL of database `name`. */
  url(name: string): string;
  /** `pg_ctl stop -m fast`: open connections are terminated, new ones refused until start(). */
  stop(): Promise<void>;
  /** Starts it again and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-soak-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await exec('id', ['-u', 'postgres']).catch(() => {
      throw new Error('running as root, PostgreSQL needs the `postgres` OS user, which does not exist');
    });
    const { stdout: gid } = await exec('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const run = async (command: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), args];
    try {
      await exec(file, argv, { timeout: 120_000 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${command} failed: ${e.stderr?.trim() || e.message}`);
    }
  };
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = () => run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'postgres.log'), '-o', options]);
  const stop = () => run('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', data]);

  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  await start();
  let running = true;
  return {
    port,
    url: (name) => `postgres://postgres@127.0.0.1:${port}/${name}`,
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async close() {
      if (running) await stop().catch(() => undefined);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The newest /usr/lib/postgresql/<version>/bin (Debian's layout), or fail saying what is missing. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v));
  } catch {
    /* reported below */
  }
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries in ${root}/<version>/bin (install postgresql)`);
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]!;
  return join(root, newest, 'bin');
}
