// Docker does not run on this machine, so the container files are checked by running the very
// commands they contain: compose's migrate and serve commands and the image's HEALTHCHECK, with
// `node dist/cli/main.js` swapped for the same CLI from source (node --import tsx src/cli/main.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { parseConfig } from '../../src/config.js';
import { CLI, REPO, run, startServer, tempSqlite, type Server } from './process.js';

const dockerfile = readFileSync(`${REPO}/Dockerfile`, 'utf8');
const compose = readFileSync(`${REPO}/compose.yaml`, 'utf8');
const packageJson = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

/** The exec-form (JSON array) command of a Dockerfile instruction line, e.g. CMD [...]. */
function dockerExec(pattern: RegExp): string[] {
  const match = pattern.exec(dockerfile.replace(/\\\n\s*/g, ''));
  assert.ok(match, `Dockerfile has ${pattern}`);
  return JSON.parse(match[1]!) as string[];
}

function composeCommand(service: string): string[] {
  const block = new RegExp(`\\n  ${service}:\\n((?:    .*\\n|\\s*\\n)+)`).exec(compose);
  assert.ok(block, `compose.yaml has service ${service}`);
  const command = /\n?    command: (\[.*\])\n/.exec(block[1]!);
  assert.ok(command, `service ${service} has a command`);
  return JSON.parse(command[1]!) as string[];
}

/** node dist/cli/main.js <args> -> node --import tsx src/cli/main.ts <args> */
function fromSource(command: string[]): string[] {
  assert.deepEqual(command.slice(0, 2), ['node', 'dist/cli/main.js'], 'runs the compiled CLI');
  return [...CLI, ...command.slice(2)];
}

const database = tempSqlite();
let server: Server | undefined;
after(() => {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  database.remove();
});

test('the image runs the package bin with serve, as npm start does', () => {
  const cmd = dockerExec(/^CMD (\[.*\])$/m);
  assert.deepEqual(cmd, ['node', 'dist/cli/main.js', 'serve']);
  assert.equal(cmd[1], packageJson.bin.latchkey);
  assert.equal(packageJson.scripts.start, cmd.join(' '));
  assert.match(dockerfile, /^USER node$/m, 'runs as a non-root user');
  assert.match(dockerfile, /^FROM node:20-slim AS build$/m);
  assert.match(dockerfile, /npm ci/);
  assert.match(dockerfile, /npm run build && npm prune --omit=dev/);
});

test('compose configures latchkey only with variables of docs/api.md §1, and they parse', () => {
  const block = /\nx-latchkey-env: &latchkey-env\n((?: {2}.*\n)+)/.exec(compose);
  assert.ok(block);
  const env: Record<string, string> = {};
  for (const line of block[1]!.trim().split('\n')) {
    const [, name, value] = /^\s*([A-Z_]+): "?(.*?)"?$/.exec(line)!;
    // Compose's ${VAR:-default} as compose would expand it with nothing set.
    env[name!] = value!.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  }
  const documented = ['PORT', 'HOST', 'DATABASE_URL', 'REDIS_URL', 'CACHE_PREFIX', 'TOKEN_EXPIRATION', 'TRUST_PROXY', 'METRICS_TOKEN', 'PRUNE_SCHEDULE', 'LOG_LEVEL'];
  assert.deepEqual(Object.keys(env).sort(), documented.sort());
  const config = parseConfig(env);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.pruneSchedule, '0 2 * * *');
  assert.equal(config.metricsToken, undefined);
  assert.deepEqual(config.redis, { kind: 'url', url: 'redis://redis:6379' });
  for (const service of ['postgres', 'redis']) assert.match(compose, new RegExp(`\\n  ${service}:\\n(?:    .*\\n)*    healthcheck:`), `${service} has a health check`);
});

test("compose's migrate and serve commands and the image's HEALTHCHECK work as written", async () => {
  const env = { DATABASE_URL: database.url, LOG_LEVEL: 'warn' };
  const migrate = await run(fromSource(composeCommand('migrate')), env);
  assert.equal(migrate.code, 0, migrate.stderr);
  assert.match(migrate.stdout, /^Migrated: /);

  const healthcheck = dockerExec(/^HEALTHCHECK .*? CMD (\[.*\])$/m);
  assert.equal(healthcheck[0], 'node');
  server = await startServer(fromSource(composeCommand('latchkey')), env);
  const healthy = await run(healthcheck.slice(1), { PORT: String(server.port) });
  assert.equal(healthy.code, 0, `healthcheck passes: ${healthy.stderr}`);

  server.child.kill('SIGTERM');
  assert.equal((await server.exited).code, 0);
  const unhealthy = await run(healthcheck.slice(1), { PORT: String(server.port) });
  assert.equal(unhealthy.code, 1, 'healthcheck fails when nothing answers');
});
