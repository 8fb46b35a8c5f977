// `latchkey tokens:revoke --user` (docs/api.md §5) ends the user's sessions as well as its tokens,
// on every instance. The real command runs in its own process, one per database, side by side
// (a Node start-up with tsx is most of the cost).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { register, startStack, type TestApp } from '../helpers/app.js';
import type { DbKind } from '../helpers/databases.js';
import { eventually, signIn, type Device } from './helpers.js';

const run = promisify(execFile);
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const TSX = import.meta.resolve('tsx'); // absolute: the command runs in a directory of its own
/** docs/api.md §3: every instance within 100 ms of the command's answer; the test allows a wide margin. */
const WITHIN_MS = 1000;

const refusedSoon = (app: TestApp, device: Device) =>
  eventually(async () => (await app.request('GET', '/api/auth/me', device.read())).status === 401, WITHIN_MS);

describe('`latchkey tokens:revoke --user` ends sessions', { concurrency: true }, () => {
  for (const db of ['sqlite', 'postgres', 'mysql'] as DbKind[]) {
    test(`on ${db} with Redis`, async () => {
      const stack = await startStack({ db, cache: 'redis' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });
      try {
        const app = stack.instance;
        const other = await stack.another();
        const { email, password, user } = await register(app);
        const laptop = await signIn(app, { email, password });
        const phone = await signIn(app, { email, password });
        for (const instance of [app, other]) {
          for (const device of [laptop, phone]) assert.equal((await instance.request('GET', '/api/auth/me', device.read())).status, 200);
        }
        const { stdout } = await run(process.execPath, ['--import', TSX, MAIN, 'tokens:revoke', `--user=${email.toUpperCase()}`], {
          cwd: tmpdir(), // no stray .env
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...stack.env, LOG_LEVEL: 'silent' },
        });
        assert.match(stdout, new RegExp(`Revoked 1 tokens and 2 sessions of user ${user.id}`));
        for (const instance of [app, other]) {
          for (const device of [laptop, phone]) assert.ok(await refusedSoon(instance, device));
        }
      } finally {
        await stack.close();
      }
    });
  }
});
