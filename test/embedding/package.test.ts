// latchkey as a consumer installs it: `npm pack` (whose prepack builds dist/ with its .d.ts),
// the tarball installed into a fresh project outside this repository (none of latchkey's dev
// dependencies reachable), then from that project: `npx latchkey migrate` and `npx latchkey
// serve`, the Express example as plain ESM JavaScript, the Fastify example compiled by `tsc`
// against the shipped types, and CommonJS require() failing with one line.
//
// Speed: packages come from the npm cache (--prefer-offline), and install scripts are skipped:
// they would compile better-sqlite3 (no prebuilt binary can be downloaded here) and argon2 (npm
// builds any package with a binding.gyp and no install script; the prebuilt binary argon2 ships
// crashes on this machine) from source, which takes many minutes. Their binaries are instead
// COPIED from this repository's node_modules: the same versions, built for the same Node. bcrypt
// loads the prebuilt binary its package ships, as its own install script would.
// LATCHKEY_PACKAGE_TEST_BUILD=1 runs the install scripts instead (a real build).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from '../revocation/support.js';
import { httpRequest } from './apps.js';

const run = promisify(execFile);
const REPO = new URL('../../', import.meta.url).pathname;
const FULL_BUILD = process.env.LATCHKEY_PACKAGE_TEST_BUILD === '1';
const MINUTES = 60_000;

function versionOf(packageDir: string): string {
  return (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
}

describe('the packed tarball, installed in a fresh project', { timeout: 20 * MINUTES }, () => {
  let dir: string;
  let project: string;
  const processes: ChildProcess[] = [];
  let env: NodeJS.ProcessEnv;

  const npx = (args: string[], extra: NodeJS.ProcessEnv = {}) => run('npx', ['--no-install', ...args], { cwd: project, env: { ...env, ...extra } });

  /** Starts a long-running command of the project and waits until `url` answers. */
  async function start(command: string, args: string[], extra: NodeJS.ProcessEnv, url: string): Promise<ChildProcess> {
    const child = spawn(command, args, { cwd: project, env: { ...env, ...extra }, stdio: ['ignore', 'ignore', 'inherit'] });
    processes.push(child);
    await waitUntil(`${command} ${args.join(' ')} answers`, () => fetch(url).then(() => true, () => child.exitCode !== null && Promise.reject(new Error(`${command} exited with ${child.exitCode}`))), 60_000);
    return child;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-package-'));
    project = join(dir, 'consumer');
    mkdirSync(project);
    await run('npm', ['pack', '--pack-destination', dir], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const own = (name: string) => `${name}@${versionOf(join(REPO, 'node_modules', name))}`;
    // What an app would add: latchkey, its framework, and TypeScript with Node's types.
    const install = ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, own('express'), own('fastify'), own('typescript'), own('@types/node')];
    await run('npm', FULL_BUILD ? install : [...install, '--ignore-scripts'], { cwd: project, maxBuffer: 64 * 1024 * 1024 });
    if (!FULL_BUILD) {
      for (const [name, binary] of [['better-sqlite3', 'better_sqlite3.node'], ['argon2', 'argon2.node']] as const) {
        const where = join('node_modules', name);
        assert.equal(versionOf(join(project, where)), versionOf(join(REPO, where)), `${name}: the same version as this repository's`);
        mkdirSync(join(project, where, 'build/Release'), { recursive: true });
        copyFileSync(join(REPO, where, 'build/Release', binary), join(project, where, 'build/Release', binary));
      }
    }
    cpSync(join(REPO, 'examples'), join(project, 'examples'), { recursive: true });
    // A clean environment: the default SQLite database in the project, the in-process cache.
    env = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', BCRYPT_ROUNDS: '4', PRUNE_SCHEDULE: 'off' };
  });
  after(async () => {
    for (const child of processes) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('no dev dependency of latchkey is installed', () => {
    const { devDependencies } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    // The consumer added these three itself.
    const devOnly = Object.keys(devDependencies).filter((name) => !['express', 'typescript', '@types/node'].includes(name));
    assert.deepEqual(devOnly.filter((name) => existsSync(join(project, 'node_modules', name))), []);
  });

  test('an embedded app before `latchkey migrate` fails at start with one line naming it', async () => {
    mkdirSync(join(project, 'data'), { recursive: true });
    const error = await run('node', ['examples/express/server.js'], { cwd: project, env: { ...env, APP_PORT: String(await freePort()) } }).then(
      () => assert.fail('started on an unmigrated database'),
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(error, /latchkey: the database is not migrated: run `latchkey migrate` first/);
  });

  test('npx latchkey migrate, then the Express example (ESM JavaScript) and the Fastify example (TypeScript, tsc) against the same database', async () => {
    const { stdout } = await npx(['latchkey', 'migrate']);
    assert.match(stdout, /^Migrated: /);
    await npx(['tsc', '-p', 'examples/fastify/tsconfig.json']);

    const serverPort = await freePort();
    const latchkeyBase = `http://127.0.0.1:${serverPort}`;
    await start('npx', ['--no-install', 'latchkey', 'serve', '--no-migrate'], { PORT: String(serverPort) }, `${latchkeyBase}/healthz`);
    const apps = [];
    for (const [name, script] of [['express', 'examples/express/server.js'], ['fastify', 'examples/fastify/dist/server.js']] as const) {
      const port = await freePort();
      await start('node', [script], { APP_PORT: String(port) }, `http://127.0.0.1:${port}/`);
      apps.push({ name, base: `http://127.0.0.1:${port}` });
    }

    const registered = await httpRequest(latchkeyBase, 'POST', '/api/auth/register', { body: { email: 'ann@example.com', password: 'correct horse' } });
    assert.equal(registered.status, 201);
    const token = registered.body.token as string;
    const other = await httpRequest(latchkeyBase, 'POST', '/api/auth/tokens', { token, body: { name: 'no orders', abilities: ['profile'] } });
    for (const { name, base } of apps) {
      assert.equal((await httpRequest(base, 'GET', '/')).status, 200, name);
      const anonymous = await httpRequest(base, 'GET', '/orders');
      assert.equal(anonymous.status, 401, name);
      assert.equal(anonymous.body.error.code, 'unauthenticated');
      assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
      const orders = await httpRequest(base, 'GET', '/orders', { token });
      assert.equal(orders.status, 200, name);
      assert.deepEqual(orders.body, { user: registered.body.user, orders: [] });
      assert.equal((await httpRequest(base, 'GET', '/orders', { token: other.body.token })).body.error.code, 'forbidden', name);
    }
  });

  test("CommonJS require('latchkey') fails with one line saying to import it", async () => {
    for (const specifier of ['latchkey', 'latchkey/express', 'latchkey/fastify']) {
      const error = await run('node', ['-e', `require(${JSON.stringify(specifier)})`], { cwd: project, env }).then(
        () => assert.fail('require() succeeded'),
        (e: { stderr: string }) => e.stderr,
      );
      assert.match(error, /^Error: latchkey is an ES module: use `import \.\.\. from 'latchkey'`/m);
    }
    const { stdout } = await run('node', ['--input-type=commonjs', '-e', "import('latchkey').then((m) => console.log(typeof m.openLatchkey, typeof m.embedLatchkey))"], { cwd: project, env });
    assert.equal(stdout.trim(), 'function function');
  });
});
