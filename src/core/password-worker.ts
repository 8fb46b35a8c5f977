// The body of a password-hashing worker thread (see ./passwords.ts). These threads run at a
// lower CPU priority than the event loop, so bcrypt uses its synchronous API here: the hash
// then runs on this thread and yields the CPU to token validation under a login storm.
// argon2 offers only an async API, which hashes on libuv's pool at normal priority.
import argon2 from 'argon2';
import bcrypt from 'bcrypt';

export type HashTask =
  | { op: 'hash'; algorithm: 'bcrypt' | 'argon2id'; password: string; rounds: number }
  | { op: 'verify'; password: string; hash: string };

export const BCRYPT_HASH = /^\$2[abxy]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

export default async function run(task: HashTask): Promise<string | boolean> {
  if (task.op === 'hash') {
    if (task.algorithm === 'argon2id') return argon2.hash(task.password, { type: argon2.argon2id });
    // Laravel writes and reads `$2y$`; the algorithm is identical to `$2b$`.
    return bcrypt.hashSync(task.password, task.rounds).replace(/^\$2b\$/, '$2y$');
  }
  if (BCRYPT_HASH.test(task.hash)) return bcrypt.compareSync(task.password, task.hash.replace(/^\$2[xy]\$/, '$2b$'));
  if (task.hash.startsWith('$argon2')) {
    try {
      return await argon2.verify(task.hash, task.password);
    } catch {
      return false; // a malformed stored hash verifies nothing
    }
  }
  return false;
}
