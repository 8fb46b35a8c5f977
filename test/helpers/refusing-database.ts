// What a database server of the test's own offers a refusal test (test/helpers/private-postgres.ts,
// private-mariadb.ts): latchkey's URL, the refusals it can inflict and repair, and a superuser's
// view of the data. Plus the pieces both servers share: running a command, and filling every
// connection slot with other clients.
import { spawn } from 'node:child_process';

export interface Refusal {
  /** How this server is made to refuse. */
  name: string;
  /** Leaves latchkey unable to open a connection (or to use the ones it has) until repair(). */
  inflict(): Promise<void>;
  repair(): Promise<void>;
}

/** A restart, refused connections, every connection slot taken, the database gone, a rotated password. */
export type RefusalKind = 'restart' | 'refused' | 'full' | 'gone' | 'password';

export interface RefusingDatabase {
  readonly kind: 'postgres' | 'mysql';
  /** latchkey's DATABASE_URL: a user of its own, with a password, owning a database of its own. */
  readonly url: string;
  /** The number `sql` selects (as `n`) in latchkey's database, asked as the server's superuser. */
  count(sql: string): Promise<number>;
  readonly refusals: Record<RefusalKind, Refusal>;
  /** Stops the server and removes its data. */
  close(): Promise<void>;
}

/** Runs a command to its end; fails with its output when it exits non-zero or cannot start. */
export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // stdin ignored: a server that a command starts in the background must not hold our pipes.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    child.once('error', (error) => reject(new Error(`cannot run ${command} (is it installed?): ${error.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output.trim()}`))));
  });
}

export interface SlotFiller<C> {
  /** Opens one connection as another client (not latchkey's user). */
  open(): Promise<C>;
  close(client: C): Promise<void>;
  /** True for the server's "too many connections" refusal. */
  isFull(error: unknown): boolean;
  /** How many connections latchkey's user holds. */
  latchkeyConnections(): Promise<number>;
  /** Ends them (latchkey then needs new ones, which the full server refuses). */
  endLatchkeyConnections(): Promise<void>;
}

/**
 * Takes every connection slot the server gives ordinary users, ending latchkey's own as it goes
 * (it reconnects within milliseconds to poll the cache epoch), until the server refuses one more
 * while latchkey holds none, twice 100 ms apart (a connection still authenticating is not listed
 * yet). Returns a function that lets them go.
 */
export async function fillConnectionSlots<C>(filler: SlotFiller<C>): Promise<() => Promise<void>> {
  const held: C[] = [];
  const release = async () => {
    await Promise.all(held.splice(0).map((c) => filler.close(c)));
  };
  try {
    let fullWithoutLatchkey = 0;
    for (let attempt = 0; fullWithoutLatchkey < 2; attempt++) {
      if (attempt > 500) throw new Error(`could not fill the server's connection slots (holding ${held.length})`);
      try {
        held.push(await filler.open());
        fullWithoutLatchkey = 0;
      } catch (error) {
        if (!filler.isFull(error)) throw error;
        if ((await filler.latchkeyConnections()) === 0) fullWithoutLatchkey++;
        else {
          fullWithoutLatchkey = 0;
          await filler.endLatchkeyConnections();
        }
        await new Promise((resolve) => setTimeout(resolve, fullWithoutLatchkey ? 100 : 20));
      }
    }
    return release;
  } catch (error) {
    await release();
    throw error;
  }
}
