// Password hashing off the event loop, on a small pool of worker threads (piscina) that run
// at a lower CPU priority (nice +10, Linux and macOS) than the event loop: a burst of logins
// takes the CPU that validation leaves, instead of sharing it equally. At most one hash fewer
// than the machine has cores runs at a time, so one core always stays with the event loop.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';
import { Piscina } from 'piscina';
import { hashingBusy } from './errors.js';
import { BCRYPT_HASH, type HashTask } from './password-worker.js';

/** Lower than the event loop, not starved: a login still completes under full load. */
const HASHING_NICE_INCREMENT = 10;
/** Worker threads start on the first hash and stop after a minute without one. */
const IDLE_WORKER_MS = 60_000;
/** ./password-worker.ts under tsx (tests, bench), ./password-worker.js once built. */
const WORKER_FILE = new URL(`./password-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

export type HasherName = 'bcrypt' | 'argon2id';

/** bcrypt ignores bytes past 72, so longer passwords are refused rather than truncated. */
export const BCRYPT_MAX_BYTES = 72;
export const ARGON2_MAX_BYTES = 1024;
/** Login answers invalid_credentials above this without hashing. */
export const LOGIN_MAX_BYTES = 4096;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** True when the stored hash uses the other algorithm or another bcrypt cost. */
  needsRehash(hash: string): boolean;
  /** Most bytes a new password may have with this hasher. */
  readonly maxBytes: number;
  /**
   * Throws hashingBusy when a hash started now would be refused, so that a request the bound
   * turns away costs no database query or counter first.
   */
  assertCapacity(): void;
  /** Stops the hashing threads once the hashes in flight are done. */
  close(): Promise<void>;
}

/**
 * `maxQueue` (PASSWORD_HASH_QUEUE) bounds the hashes waiting for a thread: past it, hash and verify
 * throw hashingBusy (503) at once, so a flood of logins costs memory and latency for no one else.
 */
export function createPasswordHasher(
  name: HasherName,
  bcryptRounds: number,
  maxQueue = Number.POSITIVE_INFINITY,
  concurrency = Math.max(1, availableParallelism() - 1),
): PasswordHasher {
  const pool = new Piscina<HashTask, string | boolean>({
    filename: WORKER_FILE,
    minThreads: 0,
    maxThreads: concurrency,
    idleTimeout: IDLE_WORKER_MS,
    niceIncrement: HASHING_NICE_INCREMENT,
  });
  let inFlight = 0;
  const assertCapacity = () => {
    if (inFlight >= concurrency + maxQueue) throw hashingBusy();
  };
  const run = async (task: HashTask): Promise<string | boolean> => {
    assertCapacity();
    inFlight++;
    try {
      return await pool.run(task);
    } finally {
      inFlight--;
    }
  };
  return {
    maxBytes: name === 'bcrypt' ? BCRYPT_MAX_BYTES : ARGON2_MAX_BYTES,
    assertCapacity,
    hash: async (password) => (await run({ op: 'hash', algorithm: name, password, rounds: bcryptRounds })) as string,
    verify: async (password, hash) => (await run({ op: 'verify', password, hash })) as boolean,
    needsRehash(hash) {
      if (name === 'argon2id') return !hash.startsWith('$argon2id$') || argon2.needsRehash(hash);
      const m = BCRYPT_HASH.exec(hash);
      return !m || Number(m[1]) !== bcryptRounds;
    },
    // Waits for hashes in flight (a login being answered, the startup warm-up) to finish.
    close: () => pool.close(),
  };
}
