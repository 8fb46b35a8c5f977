// Password hashing with native bindings whose async APIs run on libuv's thread pool, so a
// burst of logins never blocks token validation on the event loop. At most one hash fewer
// than the machine has cores runs at a time: otherwise a login storm takes every core and
// validation waits for CPU even though the event loop itself is free.
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import pLimit from 'p-limit';

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
}

const BCRYPT_HASH = /^\$2[abxy]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

export function createPasswordHasher(name: HasherName, bcryptRounds: number, concurrency = Math.max(1, availableParallelism() - 1)): PasswordHasher {
  const limit = pLimit(concurrency);
  return {
    maxBytes: name === 'bcrypt' ? BCRYPT_MAX_BYTES : ARGON2_MAX_BYTES,
    hash: (password) =>
      limit(async () => {
        if (name === 'argon2id') return argon2.hash(password, { type: argon2.argon2id });
        // Laravel writes and reads `$2y$`; the algorithm is identical to `$2b$`.
        return (await bcrypt.hash(password, bcryptRounds)).replace(/^\$2b\$/, '$2y$');
      }),
    verify: (password, hash) => limit(() => verifyHash(password, hash)),
    needsRehash(hash) {
      if (name === 'argon2id') return !hash.startsWith('$argon2id$') || argon2.needsRehash(hash);
      const m = BCRYPT_HASH.exec(hash);
      return !m || Number(m[1]) !== bcryptRounds;
    },
  };
}

async function verifyHash(password: string, hash: string): Promise<boolean> {
  if (BCRYPT_HASH.test(hash)) return bcrypt.compare(password, hash.replace(/^\$2[xy]\$/, '$2b$'));
  if (hash.startsWith('$argon2')) {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false; // a malformed stored hash verifies nothing
    }
  }
  return false;
}
