// @ts-check
// Runs before every `npm test` (package.json "pretest"), so that the README's test command does
// its own set-up on a fresh machine: it installs the system tools the tests start (TOOLS in
// ./requirements.mjs) with apt-get and starts the machine's PostgreSQL, MariaDB and Redis when
// they are stopped, as root. Where it cannot, it stops before any test runs with one line naming
// what to install or start: a missing tool is never reported as cancelled or failed tests.
// When everything is there it only looks (PATH, file and port checks), well under a second.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICES, TOOLS, abilities, addressOf, cannotProvideMessage, isDefaultAddress, missingTools } from './requirements.mjs';

/** As long as the CI script waited: 60 probes, 0.5 s apart. */
const READY_PROBES = 60;
const PROBE_INTERVAL_MS = 500;

const startedAt = performance.now();
const can = abilities({ root: process.getuid?.() === 0, hasAptGet: isPresent('apt-get') });
const postgresVersions = listDirectory('/etc/postgresql');

let missing = missingTools(TOOLS, isPresent);
if (missing.length > 0 && can.canInstall) {
  const packages = missing.map((tool) => tool.debianPackage);
  console.log(`preflight: installing ${packages.join(' ')} with apt-get (only the first run does this)`);
  aptGet(['update', '-qq']);
  const status = aptGet(['install', '-y', '-qq', ...packages]);
  if (status !== 0) fail(`apt-get install ${packages.join(' ')} failed (exit ${status}); see its messages above`);
  missing = missingTools(TOOLS, isPresent);
  if (missing.length > 0) fail(`apt-get installed ${packages.join(' ')} but these are still missing: ${missing.map((tool) => tool.needs).join(', ')}`);
}

const down = [];
for (const service of SERVICES) if (!(await answers(addressOf(service)))) down.push(service);
const startable = can.canStart ? down.filter(isDefaultAddress) : [];
for (const service of startable) {
  const command = service.start(postgresVersions);
  console.log(`preflight: ${service.name} is not answering: ${command.join(' ')}`);
  run(command);
}
for (const service of startable) {
  if (!(await becomesReady(service.ready))) fail(`${service.name} did not come up within ${(READY_PROBES * PROBE_INTERVAL_MS) / 1000} s (probe: ${service.ready.join(' ')})`);
}

const notStarted = down.filter((service) => !startable.includes(service));
if (missing.length > 0 || notStarted.length > 0) {
  fail(cannotProvideMessage({ tools: missing, services: notStarted, why: can.why, postgresVersions }));
}
const checked = [...TOOLS.map((tool) => tool.needs), ...SERVICES.map((service) => service.name)];
console.log(`preflight: ${checked.join(', ')} are there (${Math.round(performance.now() - startedAt)} ms)`);

/** @param {string} needs a command on PATH or an absolute path, as `command -v` finds it */
function isPresent(needs) {
  if (isAbsolute(needs)) return isExecutable(needs);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, needs)));
}

/** @param {string} path */
function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** @param {string} path */
function listDirectory(path) {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/**
 * A TCP connection accepted: the quick check. After a start, becomesReady asks the server itself.
 * @param {{ host: string, port: number }} address
 * @returns {Promise<boolean>}
 */
function answers({ host, port }) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000);
    const settle = (/** @type {boolean} */ up) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => settle(true));
    socket.once('error', () => settle(false));
    socket.once('timeout', () => settle(false));
  });
}

/** @param {string[]} probe a command that exits 0 once the server takes queries */
async function becomesReady(probe) {
  for (let attempt = 0; attempt < READY_PROBES; attempt++) {
    if (spawnSync(probe[0], probe.slice(1), { stdio: 'ignore' }).status === 0) return true;
    await sleep(PROBE_INTERVAL_MS);
  }
  return false;
}

/** @param {string[]} args */
function aptGet(args) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=120', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env }).status;
}

/** @param {string[]} command */
function run(command) {
  spawnSync(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(`preflight: ${message}`);
  process.exit(1);
}
