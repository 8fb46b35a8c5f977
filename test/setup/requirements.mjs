// @ts-check
// What the test suite needs from the machine besides Node and node_modules, in one place, and the
// decisions the preflight (test/setup/preflight.mjs) takes about it. Plain JavaScript, so that
// `npm test` can run the preflight without loading tsx; type-checked through the JSDoc below.
// Nothing here touches the machine: the functions are pure and unit-tested.

/** Where the tests find the shared servers (test/helpers read these too). */
export const PG_ADMIN_URL = process.env.LATCHKEY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_ADMIN_URL = process.env.LATCHKEY_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const REDIS_URL = process.env.LATCHKEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A program the tests start. `needs` is a command looked up on PATH, or an absolute path where
 * the tests expect it; `debianPackage` provides it.
 * @typedef {{ needs: string, debianPackage: string, usedBy: string }} Tool
 */

/** @type {readonly Tool[]} One line per tool: adding one to the suite's needs is adding a line here. */
export const TOOLS = [
  { needs: 'php', debianPackage: 'php-cli', usedBy: 'the Laravel interop test' },
  { needs: '/usr/bin/chromium', debianPackage: 'chromium', usedBy: 'the browser tests' },
  { needs: 'redis-server', debianPackage: 'redis-server', usedBy: 'the Redis fault, cluster and sentinel tests, which start their own' },
  { needs: '/usr/sbin/nginx', debianPackage: 'nginx-light', usedBy: 'the tests that put Debian\'s nginx in front of latchkey' },
];

/**
 * A server the tests connect to. `start` and `ready` are the commands this kind of machine starts
 * and probes it with (the same as the CI script used before `npm test` did its own set-up); they
 * are only used when the tests look for it at its default address.
 * @typedef {{ name: string, url: string, defaultUrl: string, defaultPort: number, start: (postgresVersions: string[]) => string[], ready: string[] }} Service
 */

/** @type {readonly Service[]} */
export const SERVICES = [
  {
    name: 'PostgreSQL',
    url: PG_ADMIN_URL,
    defaultUrl: 'postgres://postgres@127.0.0.1:5432/test',
    defaultPort: 5432,
    // The first cluster version under /etc/postgresql, as `ls /etc/postgresql | head -1`.
    start: (versions) => ['pg_ctlcluster', '--skip-systemctl-redirect', [...versions].sort()[0] ?? '', 'main', 'start'],
    ready: ['pg_isready', '-h', '127.0.0.1', '-p', '5432'],
  },
  {
    name: 'MariaDB',
    url: MYSQL_ADMIN_URL,
    defaultUrl: 'mysql://root@127.0.0.1:3306/test',
    defaultPort: 3306,
    start: () => ['start-stop-daemon', '--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'],
    ready: ['mariadb-admin', '-h', '127.0.0.1', '-uroot', 'ping'],
  },
  {
    name: 'Redis',
    url: REDIS_URL,
    defaultUrl: 'redis://127.0.0.1:6379',
    defaultPort: 6379,
    start: () => ['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log'],
    ready: ['redis-cli', '-h', '127.0.0.1', '-p', '6379', 'ping'],
  },
];

/**
 * @param {Service} service
 * @returns {{ host: string, port: number }} where the tests will connect
 */
export function addressOf(service) {
  const url = new URL(service.url);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(url.port || service.defaultPort) };
}

/**
 * @param {readonly Tool[]} tools
 * @param {(needs: string) => boolean} isPresent
 * @returns {Tool[]} the tools that are not there
 */
export function missingTools(tools, isPresent) {
  return tools.filter((tool) => !isPresent(tool.needs));
}

/**
 * Whether the preflight may install packages and start the machine's servers itself.
 * @param {{ root: boolean, hasAptGet: boolean }} machine
 * @returns {{ canInstall: boolean, canStart: boolean, why: string }} `why` says what stops it, for the message
 */
export function abilities({ root, hasAptGet }) {
  return {
    canInstall: root && hasAptGet,
    canStart: root,
    why: !root ? 'npm test is not running as root' : !hasAptGet ? 'there is no apt-get here' : '',
  };
}

/** @param {Service} service */
export const isDefaultAddress = (service) => service.url === service.defaultUrl;

/**
 * The one line the preflight stops with when it cannot provide what the tests need itself.
 * @param {{ tools: readonly Tool[], services: readonly Service[], why: string, postgresVersions: string[] }} left
 *   the tools still missing, the servers still not answering, what stopped the preflight (see
 *   abilities) and the PostgreSQL versions installed (for the start command shown)
 */
export function cannotProvideMessage({ tools, services, why, postgresVersions }) {
  const steps = [];
  if (tools.length > 0) {
    const needs = tools.map((tool) => `${tool.needs} for ${tool.usedBy}`).join(', ');
    steps.push(`apt-get install ${tools.map((tool) => tool.debianPackage).join(' ')} (${needs})`);
  }
  for (const service of services) {
    const { host, port } = addressOf(service);
    steps.push(
      isDefaultAddress(service)
        ? `start ${service.name} on ${host}:${port} (${service.start(postgresVersions).join(' ')})`
        : `start ${service.name} at ${host}:${port}, where the tests look for it`,
    );
  }
  return `npm test cannot run yet${why ? ` (${why})` : ''}: ${steps.join('; ')}; then run npm test again`;
}
